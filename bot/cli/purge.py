"""``python -m bot purge [--days N]``: delete transcripts of cases closed more than N days ago.

N defaults to ``RETENTION_DAYS`` (30). The anonymous aggregate counts are kept.
"""

from __future__ import annotations

import argparse
import os

from bot.storage.database import Database
from bot.storage.repository import purge


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=None,
                        help="retention in days (default: RETENTION_DAYS or 30)")


def run(args: argparse.Namespace) -> int:
    days = args.days if args.days is not None else int(os.environ.get("RETENTION_DAYS") or 30)
    if days < 0:
        raise SystemExit("--days must not be negative")
    database = Database()
    database.migrate()
    try:
        with database.session() as session:
            count = purge(session, days)
    finally:
        database.dispose()
    print(f"purged {count} case(s) closed more than {days} day(s) ago")
    return 0
