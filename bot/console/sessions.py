"""Console sessions: random tokens kept in memory, with a CSRF token each and an idle expiry.

One ``SessionStore`` belongs to one console blueprint; nothing is global. The clock
is injected (a callable returning a naive UTC datetime) so that tests can move time.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Callable, Dict, Optional

Clock = Callable[[], dt.datetime]


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


class SessionStore:
    """token -> ``ConsoleSession``; a session idle longer than ``idle`` is gone."""

    def __init__(self, clock: Clock, idle: dt.timedelta) -> None:
        self.clock = clock
        self.idle = idle
        self.sessions: Dict[str, ConsoleSession] = {}

    def start(self, operator_id: int) -> str:
        """A new session (new token: no fixation) for one operator; returns its token."""
        token = secrets.token_urlsafe(32)
        self.sessions[token] = ConsoleSession(operator_id, secrets.token_urlsafe(32), self.clock())
        return token

    def get(self, token: Optional[str], touch: bool = True) -> Optional[ConsoleSession]:
        """The live session of ``token``; ``touch`` counts the request as activity."""
        self._prune()
        found = self.sessions.get(token or "")
        if found is not None and touch:
            found.last_seen = self.clock()
        return found

    def end(self, token: Optional[str]) -> None:
        self.sessions.pop(token or "", None)

    def _prune(self) -> None:
        limit = self.clock() - self.idle
        for token in [t for t, s in self.sessions.items() if s.last_seen < limit]:
            del self.sessions[token]
