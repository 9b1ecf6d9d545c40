"""Background work of the handoff: reminding waiting people, and retention.

:meth:`HandoffJobs.remind_unclaimed` tells a person whose case nobody claimed within
``HANDOFF_REMINDER_MINUTES`` (default 10) how to reach the centres by phone, once
(``cases.reminded_at`` is set atomically, so of several replicas only one sends it);
the case stays open. :meth:`HandoffJobs.purge` applies ``RETENTION_DAYS`` (default 30)
to closed cases' transcripts and to the assistant's conversations. ``run`` does both
every minute (purge once an hour) inside the service's event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from typing import Any, Callable

from sqlalchemy import update

from bot.storage import repository as repo
from bot.storage.models import Case

logger = logging.getLogger(__name__)

TICK_S = 60
PURGE_EVERY_TICKS = 60


class HandoffJobs:
    def __init__(self, service: Any, clock: Callable[[], dt.datetime] = repo.utcnow) -> None:
        self.service = service
        self.clock = clock
        self.reminder_after = dt.timedelta(minutes=float(os.environ.get("HANDOFF_REMINDER_MINUTES", "10")))
        self.retention_days = int(os.environ.get("RETENTION_DAYS", "30"))

    async def remind_unclaimed(self) -> int:
        """Send the reminder to each person waiting too long; returns how many were sent."""
        now = self.clock()
        cutoff = now - self.reminder_after
        with self.service.db.session() as session:
            waiting = [(c.id, c.conversation_id, c.channel, c.language) for c in session.query(Case)
                       .filter(Case.status == "open", Case.created_at <= cutoff,
                               Case.reminded_at.is_(None), Case.conversation_id.isnot(None))]
        sent = 0
        for case_id, sender_id, channel, language in waiting:
            with self.service.db.session() as session:
                mine = session.execute(update(Case).where(Case.id == case_id, Case.reminded_at.is_(None))
                                       .values(reminded_at=now)).rowcount == 1
            if not mine:
                continue  # another replica sent it
            text = self.service.assistant.nlg.system_text("handoff.unclaimed", language)
            try:
                await self.service.deliver(channel, sender_id, text, "assistant", case_id=case_id)
                sent += 1
            except Exception as exc:  # noqa: BLE001 - one unreachable chat must not stop the others
                logger.warning("handoff reminder for case %s not delivered (%s)", case_id, type(exc).__name__)
        return sent

    async def purge(self) -> int:
        with self.service.db.session() as session:
            purged = repo.purge(session, self.retention_days, self.clock())
        moment = self.clock() - dt.timedelta(days=self.retention_days)
        await self.service.assistant.forget_older_than(moment)
        self.service.forget_older_than(moment)
        return purged

    async def run(self) -> None:
        ticks = 0
        while True:
            try:
                if ticks % PURGE_EVERY_TICKS == 0:
                    await self.purge()
                await self.remind_unclaimed()
            except Exception as exc:  # noqa: BLE001 - the jobs keep running
                logger.error("handoff jobs: %s", type(exc).__name__)
            ticks += 1
            await asyncio.sleep(TICK_S)
