"""The web chat blueprint, when the page's package is present."""

from __future__ import annotations

from typing import Any, Optional


def web_blueprint_or_none(assistant: Any, settings: Any) -> Optional[Any]:
    try:
        from bot.connectors.web import web_blueprint
    except ImportError:
        return None
    return web_blueprint(assistant, settings)
