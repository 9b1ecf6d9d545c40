"""``python -m bot handoffs list [--json] [--centre C] [--status S]``: the handoff cases.

Prints only anonymous fields (no conversation id, no transcript, no note).
"""

from __future__ import annotations

import argparse
import json

from bot.storage.database import Database
from bot.storage.models import CENTRES, STATUSES
from bot.storage.repository import case_view, list_cases

COLUMNS = ("id", "status", "urgency", "language", "channel", "centre", "created_at")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["list"])
    parser.add_argument("--json", action="store_true", help="a JSON array instead of a table")
    parser.add_argument("--centre", choices=CENTRES,
                        help="this centre's cases and the shared queue")
    parser.add_argument("--status", choices=STATUSES)


def run(args: argparse.Namespace) -> int:
    database = Database()
    database.migrate()
    try:
        with database.session() as session:
            views = [case_view(case) for case in list_cases(session, args.centre, args.status)]
    finally:
        database.dispose()
    if args.json:
        print(json.dumps(views, indent=2))
        return 0
    print("\t".join(COLUMNS))
    for view in views:
        print("\t".join("" if view[c] is None else str(view[c]) for c in COLUMNS))
    return 0
