"""Console sessions in the shared database, with a CSRF token each and an idle expiry.

Any replica can check any operator's session: a session is a row holding a SHA-256
hash of its random token (a leaked table does not log anyone in), the operator id,
the form token and the last activity. One ``SessionStore`` belongs to one console
blueprint; nothing is global. The clock is injected (a callable returning a naive UTC
datetime) so that tests can move time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Optional

from sqlalchemy import delete

from bot.storage.database import Database
from bot.storage.models import ConsoleSessionRow

Clock = Callable[[], dt.datetime]
TOUCH_EVERY = dt.timedelta(seconds=30)  # activity is written at most this often


@dataclass
class ConsoleSession:
    """Who is logged in (operator id only), the form token and the last activity."""

    operator_id: int
    csrf: str
    last_seen: dt.datetime


def same_token(given: Optional[str], expected: Optional[str]) -> bool:
    """Constant-time comparison; an absent token never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """token -> ``ConsoleSession``; a session idle longer than ``idle`` is gone."""

    def __init__(self, db: Database, clock: Clock, idle: dt.timedelta) -> None:
        self.db = db
        self.clock = clock
        self.idle = idle

    def start(self, operator_id: int) -> str:
        """A new session (new token: no fixation) for one operator; returns its token."""
        token = secrets.token_urlsafe(32)
        with self.db.session() as session:
            session.add(ConsoleSessionRow(token_hash=_hash(token), operator_id=operator_id,
                                          csrf=secrets.token_urlsafe(32), last_seen=self.clock()))
        return token

    def get(self, token: Optional[str], touch: bool = True) -> Optional[ConsoleSession]:
        """The live session of ``token``; ``touch`` counts the request as activity."""
        if not token:
            return None
        now = self.clock()
        with self.db.session() as session:
            session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.last_seen < now - self.idle))
            row = session.get(ConsoleSessionRow, _hash(token))
            if row is None:
                return None
            if touch and now - row.last_seen >= min(TOUCH_EVERY, self.idle / 2):
                row.last_seen = now
            return ConsoleSession(row.operator_id, row.csrf, row.last_seen)

    def end(self, token: Optional[str]) -> None:
        if token:
            with self.db.session() as session:
                session.execute(delete(ConsoleSessionRow).where(ConsoleSessionRow.token_hash == _hash(token)))
