"""``python -m bot catalogs extract|check``: keep the four gettext catalogs complete.

``extract`` writes ``locales/messages.pot`` from the domain and merges it into
each ``messages.po``; ``check`` fails on a missing, empty or fuzzy translation, a
placeholder mismatch or a phone number written into a text.
"""

from __future__ import annotations

import argparse

from bot.content.contacts import placeholders
from bot.i18n import catalogs
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["extract", "check"])


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    messages = catalogs.all_messages(settings.root)
    if args.action == "extract":
        catalogs.update(settings.locales_dir, catalogs.template(messages))
        print(f"{len(messages)} source strings merged into {settings.locales_dir}")
        return 0
    problems = catalogs.check(settings.locales_dir, messages,
                              placeholders(settings.contacts_file, "en"))
    for problem in problems:
        print(problem)
    print(f"catalogs: {len(problems)} problem(s)")
    return 1 if problems else 0
