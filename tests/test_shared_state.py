"""What replicas share through the database, on SQLite and on PostgreSQL.

The outbox (order, retries, giving up, one delivery), sealed chat addresses, console
sessions stored as hashes, the "nobody claimed it" reminder sent once whatever the
number of replicas, aggregate counts under concurrent closing, and retention of the
assistant's conversations in Rasa's SQL tracker store.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import text

from bot.console.sessions import SessionStore
from bot.handoff.jobs import HandoffJobs
from bot.handoff.outbox import Outbox
from bot.storage import repository as repo
from bot.storage.addresses import AddressBook
from bot.storage.database import Database
from bot.storage.models import Case, ChannelAddress, ConsoleSessionRow, OutboxMessage
from tests.test_storage import url  # noqa: F401 - the fixture: a fresh database of each kind

NOW = dt.datetime(2030, 6, 15, 12, 0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def db(url):  # noqa: F811
    database = Database(url)
    yield database
    database.dispose()


class Telegram:
    """A push channel that fails while ``down`` and records what it delivered."""

    def __init__(self) -> None:
        self.down = False
        self.gone = set()
        self.delivered = []

    async def send(self, conversation: str, text: str, source: str) -> None:
        if conversation in self.gone:
            raise LookupError("unknown chat")
        if self.down:
            raise ConnectionError("telegram is down")
        self.delivered.append((conversation, text))


async def test_outbox_keeps_order_through_failures_and_delivers_once(db):
    clock, telegram = Clock(), Telegram()
    outbox = Outbox(db, clock)
    outbox.register_sender("telegram", telegram.send)
    telegram.down = True
    for said in ("one", "two", "three"):
        outbox.put("tg-a", "telegram", said, "counsellor")
    outbox.put("tg-b", "telegram", "for b", "counsellor")
    assert await outbox.flush() == 0
    telegram.down = False
    assert await outbox.flush() == 0  # not due yet: the pause after a failure is honoured
    clock.now += dt.timedelta(seconds=2)
    assert await outbox.flush() == 4
    assert [t for c, t in telegram.delivered if c == "tg-a"] == ["one", "two", "three"]
    assert await outbox.flush() == 0 and len(telegram.delivered) == 4


async def test_a_second_replica_does_not_send_what_the_first_has_leased(db):
    clock, telegram = Clock(), Telegram()
    first, second = Outbox(db, clock), Outbox(db, clock)
    for outbox in (first, second):
        outbox.register_sender("telegram", telegram.send)
    first.put("tg-a", "telegram", "hello", "counsellor")
    leased = first._claim(None)  # the first replica is sending it right now
    assert [row.text for row in leased] == ["hello"]
    assert await second.flush() == 0 and telegram.delivered == []


async def test_outbox_gives_up_on_a_forgotten_chat_and_web_messages_are_taken_once(db):
    clock, telegram = Clock(), Telegram()
    outbox = Outbox(db, clock)
    outbox.register_sender("telegram", telegram.send)
    telegram.gone.add("tg-gone")
    outbox.put("tg-gone", "telegram", "hello?", "counsellor")
    assert await outbox.flush() == 0
    with db.session() as session:
        assert session.query(OutboxMessage).one().failed_at == NOW
    outbox.put("web-a", "web", "first", "counsellor")
    outbox.put("web-a", "web", "second", "assistant")
    assert await outbox.flush() == 0  # web messages are fetched, not pushed
    assert outbox.take("web-a") == [{"text": "first", "from": "counsellor"},
                                    {"text": "second", "from": "assistant"}]
    assert outbox.take("web-a") == []


def test_chat_addresses_are_sealed_and_bound_to_their_conversation(db):
    book = AddressBook(db, b"key one")
    book.remember("tg-a", "telegram", "7100001")
    with db.session() as session:
        sealed = session.get(ChannelAddress, "tg-a").sealed
        assert "7100001" not in sealed
        session.add(ChannelAddress(conversation_id="tg-b", channel="telegram", sealed=sealed,
                                   updated_at=NOW))  # a sealed address copied to another id
    assert book.lookup("tg-a") == "7100001"
    assert book.lookup("tg-b") is None
    assert AddressBook(db, b"another key").lookup("tg-a") is None
    book.forget("tg-a")
    assert book.lookup("tg-a") is None


def test_console_sessions_are_shared_and_stored_as_hashes(db):
    with db.session() as session:
        operator = repo.add_operator(session, "ana", "payoke", "a long enough password", now=NOW)
    clock = Clock()
    here, there = (SessionStore(db, clock, dt.timedelta(minutes=30)) for _ in range(2))
    token = here.start(operator.id)
    with db.session() as session:
        assert token not in [row.token_hash for row in session.query(ConsoleSessionRow)]
    assert there.get(token).operator_id == operator.id  # another replica knows it
    clock.now += dt.timedelta(minutes=31)
    assert there.get(token) is None  # idle too long, wherever it is asked
    token = here.start(operator.id)
    there.end(token)
    assert here.get(token) is None


class Service:
    """What the jobs need of the handoff service: the database and a way to deliver."""

    def __init__(self, db, sent) -> None:
        self.db = db
        self.sent = sent
        self.assistant = type("A", (), {"nlg": type("N", (), {"system_text": staticmethod(
            lambda key, language: f"{key}:{language}")})()})()

    async def deliver(self, channel, sender_id, text, source, case_id=None):
        self.sent.append((sender_id, text))


async def test_the_unclaimed_reminder_is_sent_once_by_all_replicas_together(db):
    with db.session() as session:
        repo.open_case(session, "web-a", "web", "fr", now=NOW - dt.timedelta(minutes=20))
    sent = []
    replicas = [HandoffJobs(Service(db, sent), clock=Clock()) for _ in range(3)]
    for jobs in replicas:
        await jobs.remind_unclaimed()
    assert sent == [("web-a", "handoff.unclaimed:fr")]


def test_closing_and_counting_from_two_replicas_at_once_counts_each_case_once(db):
    with db.session() as session:
        ids = [repo.open_case(session, f"web-{i}", "web", "nl", now=NOW).id for i in range(12)]
    errors = []

    def close_all() -> None:
        for case_id in ids:
            try:
                with db.session() as session:
                    repo.close(session, session.get(Case, case_id), None, "referred", None, NOW)
            except repo.CaseError:
                pass  # the other replica closed it first
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=close_all) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.session() as session:
        assert sum(row["closed"] for row in repo.aggregates(session)) == 12


def test_retention_removes_silent_conversations_from_the_tracker_store(db):
    from rasa.core.tracker_store import SQLTrackerStore

    store = SQLTrackerStore(host=db.url)  # creates Rasa's events table in this database
    old, recent = NOW - dt.timedelta(days=40), NOW - dt.timedelta(days=2)
    with db.session() as session:
        for sender, moment in (("web-old", old), ("web-old", old), ("web-new", old), ("web-new", recent)):
            session.execute(text("INSERT INTO events (sender_id, type_name, timestamp, data) "
                                 "VALUES (:s, 'user', :t, '{}')"),
                            {"s": sender, "t": moment.replace(tzinfo=dt.timezone.utc).timestamp()})
    with db.session() as session:
        assert repo.purge_conversations(session, NOW - dt.timedelta(days=30)) == 1
        left = session.execute(text("SELECT DISTINCT sender_id FROM events")).scalars().all()
    assert left == ["web-new"]
    store.engine.dispose()
