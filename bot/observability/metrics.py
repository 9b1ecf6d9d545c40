"""Prometheus metrics at ``/metrics``: counts and timings, never what anyone wrote.

One :class:`Metrics` per service process (its own registry, nothing global):

- ``helpline_messages_total{channel, language}``: messages people sent;
- ``helpline_turn_seconds{channel}``: time to answer one message (histogram);
- ``helpline_failsafe_replies_total{reason}``: replies that had to add the emergency
  numbers because something inside failed (``error``: the turn failed;
  ``storage``: the conversation store or the shared lock was away);
- ``helpline_handoffs_waiting{urgency}``: open cases nobody has claimed, read from the
  shared database at each scrape, so every replica reports the same queue;
- ``helpline_time_to_claim_seconds``: from a case's opening to its claim (histogram);
- ``helpline_outbox_pending{channel}``: messages for people not delivered yet.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Optional

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select

from bot import LANGUAGES
from bot.storage.models import URGENCIES, Case, OutboxMessage

logger = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
TURN_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CLAIM_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class _SharedQueue:
    """Gauges read from the database when Prometheus scrapes."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        waiting = GaugeMetricFamily("helpline_handoffs_waiting",
                                    "Open handoff cases nobody has claimed yet.", labels=["urgency"])
        pending = GaugeMetricFamily("helpline_outbox_pending",
                                    "Messages for people not delivered yet.", labels=["channel"])
        try:
            with self.db.session() as session:
                counts = dict(session.execute(
                    select(Case.urgency, func.count(Case.id)).where(Case.status == "open")
                    .group_by(Case.urgency)).all())
                outbox = dict(session.execute(
                    select(OutboxMessage.channel, func.count(OutboxMessage.id))
                    .group_by(OutboxMessage.channel)).all())
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail with the database
            logger.warning("metrics: database unavailable (%s)", type(exc).__name__)
            return
        for urgency in URGENCIES:
            waiting.add_metric([urgency], counts.get(urgency, 0))
        yield waiting
        for channel, count in sorted(outbox.items()):
            pending.add_metric([channel], count)
        yield pending


class Metrics:
    """The service's metrics; ``db`` (optional) is the shared handoff database."""

    def __init__(self, db: Optional[Any] = None) -> None:
        disable_created_metrics()  # no "_created" series: counts and timings only
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter("helpline_messages", "Messages people sent.",
                                ["channel", "language"], registry=self.registry)
        self.turn_seconds = Histogram("helpline_turn_seconds", "Time to answer one message.",
                                      ["channel"], buckets=TURN_BUCKETS, registry=self.registry)
        self.failsafe = Counter("helpline_failsafe_replies",
                                "Replies that added the emergency numbers because something failed.",
                                ["reason"], registry=self.registry)
        self.time_to_claim = Histogram("helpline_time_to_claim_seconds",
                                       "From a handoff's opening to its claim by an operator.",
                                       buckets=CLAIM_BUCKETS, registry=self.registry)
        if db is not None:
            self.registry.register(_SharedQueue(db))

    def message(self, channel: str, language: Optional[str], seconds: float) -> None:
        self.messages.labels(channel, language if language in LANGUAGES else "unknown").inc()
        self.turn_seconds.labels(channel).observe(seconds)

    def failsafe_reply(self, reason: str) -> None:
        self.failsafe.labels(reason).inc()

    def claimed(self, waited_seconds: float) -> None:
        self.time_to_claim.observe(max(0.0, waited_seconds))

    def render(self) -> bytes:
        return generate_latest(self.registry)
