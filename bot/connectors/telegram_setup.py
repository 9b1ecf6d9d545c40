"""Attaches the Telegram connector to the service when ``TELEGRAM_BOT_TOKEN`` is set."""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

logger = logging.getLogger(__name__)


def attach_telegram(app: Any, assistant: Any, settings: Any, addresses: Optional[Any] = None) -> Optional[Any]:
    """The attached connector, or None when Telegram is off; ``addresses`` keeps chat ids
    sealed in the shared database (see bot.storage.addresses)."""
    if not os.environ.get("TELEGRAM_BOT_TOKEN"):
        logger.info("no TELEGRAM_BOT_TOKEN: Telegram is off, the web chat runs alone")
        return None
    from bot.connectors.telegram import TelegramConnector

    connector = TelegramConnector.from_env(assistant, settings, addresses=addresses)
    connector.attach(app)
    return connector
