"""``python -m bot facts``: every number and website with its source and check date."""

from __future__ import annotations

import argparse

from bot.content.contacts import facts_report
from bot.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults()


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    print(f"# Facts rendered into replies, from {settings.contacts_file}")
    print("# Re-check each on the live official site before deploying; then update 'checked'.")
    print(facts_report(settings.contacts_file))
    return 0
