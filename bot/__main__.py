"""Command line: ``python -m bot <command>``.

Commands: train, classify, shell, serve, facts, catalogs (extract|check), evaluate,
handoffs, operators, purge.
Each command's module is imported only when it runs, so quick commands stay quick.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

COMMANDS = {
    "train": ("bot.cli.train", "train the model (only when data, config or domain changed)"),
    "classify": ("bot.cli.classify", "JSON Lines in, one classification per line out"),
    "shell": ("bot.cli.shell", "talk to the assistant in a terminal"),
    "facts": ("bot.cli.facts", "list every phone number and website with its source"),
    "catalogs": ("bot.cli.catalogs", "extract or check the translation catalogs"),
    "evaluate": ("bot.cli.evaluate", "score the NLU on the held-out test sets"),
    "serve": ("bot.cli.serve", "run the service: web chat, REST endpoint and Telegram"),
    "handoffs": ("bot.cli.handoffs", "list handoff cases (nothing that identifies a person)"),
    "operators": ("bot.cli.operators", "add, list, disable or reset operator accounts"),
    "purge": ("bot.cli.purge", "delete transcripts of cases closed longer ago than the retention"),
}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        importlib.import_module(module).add_arguments(command)
    args = parser.parse_args(argv)
    from bot.logs import configure_logging

    configure_logging()
    return int(importlib.import_module(COMMANDS[args.command][0]).run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
