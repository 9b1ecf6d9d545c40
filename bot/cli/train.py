"""``python -m bot train``: train the one model, only when something changed.

The domain, config and training data are hashed; when the latest model in
``models/`` was trained from the same hash, nothing is trained and its path is
printed. Old model archives beyond the newest three are removed. Rasa's own cache of
component outputs is skipped (see ``skip_rasa_output_cache``).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Iterable, Optional

from bot.settings import Settings

TRAINING_DATA = ("nlu", "stories")
KEEP_MODELS = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force", action="store_true", help="train even if nothing changed")


def training_inputs(root: Path) -> Iterable[Path]:
    yield root / "domain.yml"
    yield root / "config.yml"
    for folder in TRAINING_DATA:
        yield from sorted((root / folder).rglob("*.yml"))


def fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in training_inputs(root):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _stamp(model: Path) -> Path:
    return model.with_name(model.name.replace(".tar.gz", ".fingerprint"))


def up_to_date_model(settings: Settings, wanted: str) -> Optional[Path]:
    models = sorted(settings.model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if models and _stamp(models[-1]).exists() and _stamp(models[-1]).read_text().strip() == wanted:
        return models[-1]
    return None


def prune(settings: Settings) -> None:
    models = sorted(settings.model_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    for old in models[:-KEEP_MODELS]:
        old.unlink()
        _stamp(old).unlink(missing_ok=True)


def skip_rasa_output_cache() -> None:
    """Rasa's training hook fingerprints every component's inputs and outputs (all training
    messages with their features) and caches the outputs, so that a later training whose
    inputs are partly unchanged (stories but not the NLU data) can reuse them. That costs about
    20 s of CPU in every training (132 -> 112 s in a forced one) to save time only in that case.
    Outputs cached by earlier trainings are still read; none are written."""

    from rasa.engine.training.hooks import TrainingHook

    TrainingHook.on_before_node = lambda self, *args, **kwargs: {}
    TrainingHook.on_after_node = lambda self, *args, **kwargs: None


def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    wanted = fingerprint(settings.root)
    current = None if args.force else up_to_date_model(settings, wanted)
    if current:
        print(f"nothing changed since {current.name}", file=sys.stderr)
        print(current)
        return 0

    import rasa.api  # heavy: imported only when training

    skip_rasa_output_cache()
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
    model = Path(result.model)
    _stamp(model).write_text(wanted)
    prune(settings)
    print(model)
    return 0
