"""``python -m bot train``: train the one model, only when something changed.

Rasa fingerprints the domain, config and training data and skips training when
the latest model in ``models/`` already matches them.
"""

from __future__ import annotations

import argparse
import sys

from bot.settings import Settings

TRAINING_DATA = ("nlu", "stories")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")


def run(args: argparse.Namespace) -> int:
    import rasa.api  # heavy: imported only when training

    settings = Settings.from_env()
    result = rasa.api.train(
        domain=str(settings.root / "domain.yml"),
        config=str(settings.root / "config.yml"),
        training_files=[str(settings.root / d) for d in TRAINING_DATA],
        output=str(settings.model_dir),
        force_training=args.force,
    )
    if result.code != 0 or not result.model:
        print("training failed", file=sys.stderr)
        return 1
    print(result.model)
    return 0
