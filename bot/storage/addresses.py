"""Where a push channel reaches a conversation, sealed, in the shared database.

A counsellor's reply to a Telegram conversation must reach the chat from any replica
and after a restart, so the chat id is stored, but never in the clear: it is sealed
with AES-GCM under a key derived from ``CONVERSATION_KEY`` (and bound to the
conversation id), and erased when the conversation is forgotten or gets old.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
from typing import Callable, Dict, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select

from bot.storage.database import Database
from bot.storage.models import ChannelAddress
from bot.storage.repository import utcnow


class AddressBook:
    """conversation id -> sealed address (e.g. a Telegram chat id)."""

    def __init__(self, db: Database, key: bytes, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self._aead = AESGCM(hmac.new(key, b"channel-address", hashlib.sha256).digest())
        # Written by this process today: no database write per message, and an address in
        # use is refreshed once a day, so retention only erases those of silent chats.
        self._known: Dict[str, dt.date] = {}

    def _seal(self, conversation_id: str, address: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, address.encode(), conversation_id.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def _open(self, conversation_id: str, sealed: str) -> Optional[str]:
        raw = base64.urlsafe_b64decode(sealed.encode())
        try:
            return self._aead.decrypt(raw[:12], raw[12:], conversation_id.encode()).decode()
        except InvalidTag:
            return None  # sealed under another key (CONVERSATION_KEY changed)

    def remember(self, conversation_id: str, channel: str, address: str) -> None:
        today = self.clock().date()
        if self._known.get(conversation_id) == today:
            return
        with self.db.session() as session:
            row = session.get(ChannelAddress, conversation_id)
            if row is None or self._open(conversation_id, row.sealed) != address:
                session.merge(ChannelAddress(conversation_id=conversation_id, channel=channel,
                                             sealed=self._seal(conversation_id, address),
                                             updated_at=self.clock()))
            else:
                row.updated_at = self.clock()
        self._known[conversation_id] = today

    def lookup(self, conversation_id: str) -> Optional[str]:
        with self.db.session() as session:
            row = session.get(ChannelAddress, conversation_id)
            return self._open(conversation_id, row.sealed) if row is not None else None

    def forget(self, conversation_id: str) -> None:
        self._known.pop(conversation_id, None)
        with self.db.session() as session:
            session.execute(delete(ChannelAddress).where(ChannelAddress.conversation_id == conversation_id))

    def forget_older_than(self, moment: dt.datetime) -> int:
        with self.db.session() as session:
            old = session.execute(select(ChannelAddress.conversation_id)
                                  .where(ChannelAddress.updated_at < moment)).scalars().all()
            if old:
                session.execute(delete(ChannelAddress).where(ChannelAddress.conversation_id.in_(old)))
        for conversation_id in old:
            self._known.pop(conversation_id, None)
        return len(old)
