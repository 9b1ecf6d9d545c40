"""SQLAlchemy models of the handoff storage; the schema itself is created by the migrations."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()

CENTRES = ("pagasa", "payoke", "surya")
URGENCIES = ("emergency", "high", "normal")
STATUSES = ("open", "claimed", "closed")
SPEAKERS = ("person", "bot", "operator")
ROLES = ("operator", "supervisor", "admin")
ACTIONS = ("viewed", "claimed", "replied", "transferred", "closed", "handed_back")


class Operator(Base):
    """An operator's account at one centre; only an argon2 hash of the password is kept."""

    __tablename__ = "operators"

    id = Column(Integer, primary_key=True)
    login = Column(String(64), nullable=False, unique=True)
    centre = Column(String(16), nullable=False)
    role = Column(String(16), nullable=False, default="operator")
    password_hash = Column(String(255), nullable=False)
    disabled = Column(Boolean, nullable=False, default=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False)


class Case(Base):
    """A handoff: one conversation waiting for, or handled by, a centre (NULL: shared queue)."""

    __tablename__ = "cases"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(80), nullable=True, index=True)
    channel = Column(String(16), nullable=False)
    language = Column(String(8), nullable=False)
    urgency = Column(String(16), nullable=False)
    summary = Column(JSON, nullable=True)
    centre = Column(String(16), nullable=True, index=True)
    status = Column(String(16), nullable=False, default="open", index=True)
    claimed_by = Column(Integer, ForeignKey("operators.id"), nullable=True)
    created_at = Column(DateTime, nullable=False)
    claimed_at = Column(DateTime, nullable=True)
    closed_at = Column(DateTime, nullable=True)
    purged_at = Column(DateTime, nullable=True)
    outcome = Column(String(64), nullable=True)
    note = Column(Text, nullable=True)
    # Set once, atomically, by whichever replica sends the "nobody has claimed it yet" reminder.
    reminded_at = Column(DateTime, nullable=True)

    turns = relationship("Turn", order_by="Turn.id", cascade="all, delete-orphan")


class Turn(Base):
    """One message of a case's transcript; deleted by purge after the retention period."""

    __tablename__ = "turns"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True)
    who = Column(String(16), nullable=False)
    text = Column(Text, nullable=False)
    language = Column(String(8), nullable=True)
    intent = Column(String(64), nullable=True)
    at = Column(DateTime, nullable=False)


class AuditEntry(Base):
    """Who did what to which case, and when."""

    __tablename__ = "audit"

    id = Column(Integer, primary_key=True)
    operator_id = Column(Integer, ForeignKey("operators.id"), nullable=True, index=True)
    action = Column(String(16), nullable=False)
    case_id = Column(Integer, ForeignKey("cases.id"), nullable=True, index=True)
    at = Column(DateTime, nullable=False)


class Aggregate(Base):
    """Anonymous counts that outlive transcripts: cases closed and purged per day and kind.

    ``centre`` is "shared" for the shared queue and ``form`` is "none" when no form of
    exploitation was mentioned; a case naming two forms counts once under each form.
    """

    __tablename__ = "aggregates"
    __table_args__ = (
        UniqueConstraint("day", "centre", "language", "urgency", "form", name="uq_aggregates_key"),
    )

    id = Column(Integer, primary_key=True)
    day = Column(Date, nullable=False)
    centre = Column(String(16), nullable=False)
    language = Column(String(8), nullable=False)
    urgency = Column(String(16), nullable=False)
    form = Column(String(32), nullable=False)
    closed = Column(Integer, nullable=False, default=0)
    purged = Column(Integer, nullable=False, default=0)


class OutboxMessage(Base):
    """A message for a person (a counsellor's reply, a notice of the assistant) not yet delivered.

    Web conversations fetch theirs (``/webhooks/rest/messages``); for push channels
    (Telegram) a worker on any replica sends them, retrying with a growing pause, so a
    reply written while the channel is down reaches the person when it is back.
    """

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(80), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    case_id = Column(Integer, ForeignKey("cases.id", ondelete="SET NULL"), nullable=True, index=True)
    source = Column(String(16), nullable=False)  # "counsellor" or "assistant"
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, index=True)
    failed_at = Column(DateTime, nullable=True)  # given up: the address is gone


class ChannelAddress(Base):
    """Where a push channel reaches a conversation (e.g. a Telegram chat id), encrypted
    with a key derived from ``CONVERSATION_KEY``; erased with the conversation."""

    __tablename__ = "channel_addresses"

    conversation_id = Column(String(80), primary_key=True)
    channel = Column(String(16), nullable=False)
    sealed = Column(Text, nullable=False)
    updated_at = Column(DateTime, nullable=False, index=True)


class ConsoleSessionRow(Base):
    """A logged-in console session, shared by every replica; only a hash of the token."""

    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    operator_id = Column(Integer, ForeignKey("operators.id", ondelete="CASCADE"), nullable=False)
    csrf = Column(String(64), nullable=False)
    last_seen = Column(DateTime, nullable=False, index=True)
