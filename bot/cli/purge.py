"""``python -m bot purge [--days N]``: apply the retention limit now.

Deletes the transcripts of cases closed more than N days ago (the anonymous aggregate
counts are kept), conversations silent for N days (Rasa's events in the shared
database), and undelivered messages and chat addresses as old. N defaults to
``RETENTION_DAYS`` (30). The service does the same every hour.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from bot.handoff.outbox import Outbox
from bot.storage.addresses import AddressBook
from bot.storage.database import Database
from bot.storage.repository import purge, purge_conversations, utcnow


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=None,
                        help="retention in days (default: RETENTION_DAYS or 30)")


def run(args: argparse.Namespace) -> int:
    days = args.days if args.days is not None else int(os.environ.get("RETENTION_DAYS") or 30)
    if days < 0:
        raise SystemExit("--days must not be negative")
    database = Database()
    database.migrate()
    moment = utcnow() - dt.timedelta(days=days)
    try:
        with database.session() as session:
            count = purge(session, days)
            conversations = purge_conversations(session, moment)
        Outbox(database).forget_older_than(moment)
        AddressBook(database, b"unused for deleting").forget_older_than(moment)
    finally:
        database.dispose()
    print(f"purged {count} case(s) closed more than {days} day(s) ago "
          f"and {conversations} conversation(s) silent as long")
    return 0
