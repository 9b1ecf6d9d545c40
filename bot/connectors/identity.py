"""Conversation ids: a keyed hash of the channel's own id, never the id itself.

A chat id, a browser's random id or anything a channel gives is turned into
``<channel>-<32 hex>`` with HMAC-SHA256 under ``CONVERSATION_KEY``; what the
service stores and logs cannot be linked back to a person without the key.
"""

from __future__ import annotations

import hashlib
import hmac


def conversation_id(channel: str, raw_id: object, key: bytes) -> str:
    digest = hmac.new(key, f"{channel}:{raw_id}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"{channel}-{digest[:32]}"
