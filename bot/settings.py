"""Configuration from environment variables, with safe local defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value) if value else default


@dataclass(frozen=True)
class Settings:
    """Where things are and the secrets the service needs."""

    root: Path
    model_dir: Path
    locales_dir: Path
    contacts_file: Path
    conversation_key: bytes

    @classmethod
    def from_env(cls) -> "Settings":
        root = _path("BOT_ROOT", PROJECT_ROOT)
        key = os.environ.get("CONVERSATION_KEY", "")
        return cls(
            root=root,
            model_dir=_path("MODEL_DIR", root / "models"),
            locales_dir=_path("LOCALES_DIR", root / "locales"),
            contacts_file=_path("CONTACTS_FILE", root / "bot" / "content" / "contacts.yml"),
            # A per-process random key is the safe default: ids cannot be linked
            # back to chat ids, at the price of not surviving a restart.
            conversation_key=key.encode() if key else os.urandom(32),
        )
