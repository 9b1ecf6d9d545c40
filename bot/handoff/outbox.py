"""The outbox: messages for people, kept in the database until they are delivered.

Every counsellor reply and every notice of the assistant to a person in a handoff is
written here first, in the same transaction as the transcript. Web conversations
fetch theirs (:meth:`Outbox.take`, from ``/webhooks/rest/messages``); for push
channels (Telegram) :meth:`Outbox.flush` sends what is due through the channel's
sender and retries a failure with a growing pause (1 s, 2 s, ... at most 60 s), so a
reply written while Telegram is down reaches the person when it is back. Any replica
can take or flush any message: rows are claimed with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL (SQLite has one writer anyway), and a claimed row is leased for
``LEASE`` so that a replica that dies mid-send leaves it to the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional

from sqlalchemy import delete, func, select

from bot.storage.database import Database
from bot.storage.models import OutboxMessage
from bot.storage.repository import utcnow

logger = logging.getLogger(__name__)

# (conversation id, text, source) -> sent; raises when it was not.
Sender = Callable[[str, str, str], Awaitable[None]]
LEASE = dt.timedelta(seconds=30)
MAX_PAUSE_S = 60.0
GIVE_UP_ERRORS = (LookupError,)  # the channel no longer knows this conversation
FLUSH_EVERY_S = 2.0
BATCH = 50


def pause_after(attempts: int) -> dt.timedelta:
    """1 s, 2 s, 4 s ... at most a minute between attempts."""
    return dt.timedelta(seconds=min(MAX_PAUSE_S, 2.0 ** max(0, attempts - 1)))


class Outbox:
    """Messages waiting for people, in ``db``; ``clock`` returns naive UTC datetimes."""

    def __init__(self, db: Database, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.db = db
        self.clock = clock
        self.senders: Dict[str, Sender] = {}
        self._wake = asyncio.Event()

    def register_sender(self, channel: str, send: Sender) -> None:
        """``channel`` is a push channel: its messages are sent by ``send``."""
        self.senders[channel] = send

    def add(self, session: Any, conversation_id: str, channel: str, text: str,
            source: str, case_id: Optional[int] = None) -> OutboxMessage:
        """Queue a message inside the caller's transaction."""
        now = self.clock()
        message = OutboxMessage(conversation_id=conversation_id, channel=channel, text=text,
                                source=source, case_id=case_id, created_at=now, attempts=0,
                                next_attempt_at=now)
        session.add(message)
        session.flush()
        self._wake.set()
        return message

    def put(self, conversation_id: str, channel: str, text: str, source: str = "assistant",
            case_id: Optional[int] = None) -> int:
        with self.db.session() as session:
            return self.add(session, conversation_id, channel, text, source, case_id).id

    def take(self, conversation_id: str) -> List[Dict[str, str]]:
        """Hand over (and remove) what waits for one pulled conversation, oldest first."""
        with self.db.session() as session:
            rows = session.execute(
                select(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id,
                                            OutboxMessage.failed_at.is_(None))
                .order_by(OutboxMessage.id).with_for_update(skip_locked=True)).scalars().all()
            taken = [{"text": row.text, "from": row.source} for row in rows]
            if rows:
                session.execute(delete(OutboxMessage).where(
                    OutboxMessage.id.in_([row.id for row in rows])))
        return taken

    def forget(self, conversation_id: str) -> None:
        """Drop everything waiting for a conversation that was erased."""
        with self.db.session() as session:
            session.execute(delete(OutboxMessage).where(OutboxMessage.conversation_id == conversation_id))

    def forget_older_than(self, moment: dt.datetime) -> int:
        """Retention: messages that could not be delivered for that long are dropped."""
        with self.db.session() as session:
            return session.execute(delete(OutboxMessage).where(OutboxMessage.created_at < moment)).rowcount

    def waiting(self, conversation_id: str) -> int:
        """How many messages for a conversation are still to be delivered (not given up)."""
        with self.db.session() as session:
            return session.execute(select(func.count(OutboxMessage.id)).where(
                OutboxMessage.conversation_id == conversation_id,
                OutboxMessage.failed_at.is_(None))).scalar_one()

    def _claim(self, conversation_id: Optional[str]) -> List[OutboxMessage]:
        """Lease the due messages of push channels (one conversation's, or all), each
        conversation's in order: a message waits while an earlier one is not through."""
        now = self.clock()
        with self.db.session() as session:
            query = (select(OutboxMessage)
                     .where(OutboxMessage.channel.in_(list(self.senders)),
                            OutboxMessage.failed_at.is_(None))
                     .order_by(OutboxMessage.id).limit(BATCH * 4).with_for_update(skip_locked=True))
            if conversation_id is not None:
                query = query.where(OutboxMessage.conversation_id == conversation_id)
            chosen, blocked = [], set()
            for row in session.execute(query).scalars():
                if row.conversation_id in blocked:
                    continue
                if row.next_attempt_at > now or len(chosen) >= BATCH:
                    blocked.add(row.conversation_id)  # waiting, or leased by another replica
                    continue
                row.next_attempt_at = now + LEASE
                chosen.append(row)
        return chosen

    async def flush(self, conversation_id: Optional[str] = None) -> int:
        """Send what is due; returns how many were delivered. Per conversation, a failure
        stops the rest so that messages never overtake each other."""
        if not self.senders:
            return 0
        delivered = 0
        blocked = set()
        for row in self._claim(conversation_id):
            if row.conversation_id in blocked:
                self._retry_later(row.id, row.attempts)  # keep its place, try again soon
                continue
            try:
                await self.senders[row.channel](row.conversation_id, row.text, row.source)
            except GIVE_UP_ERRORS:
                self._give_up(row.id)
                blocked.add(row.conversation_id)
                continue
            except Exception as exc:  # noqa: BLE001 - kept and retried
                logger.warning("outbox message %s not delivered (%s); retrying", row.id, type(exc).__name__)
                self._retry_later(row.id, row.attempts + 1)
                blocked.add(row.conversation_id)
                continue
            with self.db.session() as session:
                session.execute(delete(OutboxMessage).where(OutboxMessage.id == row.id))
            delivered += 1
        return delivered

    def _retry_later(self, message_id: int, attempts: int) -> None:
        with self.db.session() as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None:
                row.attempts = attempts
                row.next_attempt_at = self.clock() + pause_after(attempts)

    def _give_up(self, message_id: int) -> None:
        with self.db.session() as session:
            row = session.get(OutboxMessage, message_id)
            if row is not None:
                row.failed_at = self.clock()
        logger.warning("outbox message %s cannot reach its conversation any more", message_id)

    async def run(self, every_s: float = FLUSH_EVERY_S) -> None:
        """Flush forever: at once when a message is queued here, else every ``every_s``."""
        while True:
            try:
                await self.flush()
            except Exception as exc:  # noqa: BLE001 - the database may be away; try again
                logger.error("outbox flush failed (%s)", type(exc).__name__)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=every_s)
            except asyncio.TimeoutError:
                pass
