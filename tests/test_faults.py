"""Faults a deployment meets, with real servers the tests start and stop on loopback.

PostgreSQL or Redis away for a while, a replica killed mid-conversation, a replica
stopped while it answers, the Telegram Bot API answering 500 or not at all. In every
case the person still gets a reply with the emergency numbers, no operator message
is lost (it is delivered once the service is back) and the service recovers by
itself, without a restart.
"""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from bot.connectors.telegram import TelegramConfig, TelegramConnector
from bot.handoff.outbox import Outbox
from bot.handoff.service import HandoffService
from bot.storage import repository as repo
from bot.storage.addresses import AddressBook
from bot.storage.database import Database
from bot.storage.models import Case
from tests.cluster import PostgresServer, RedisServer, Replica, fetch, say, start_replicas
from tests.fake_bot_api import FakeBotAPI

KEY = "fault-test-key-" + uuid.uuid4().hex
FAILSAFE_START = "Sorry, something went wrong on my side."


@pytest.fixture
def servers():
    postgres, redis = PostgresServer(), RedisServer()
    postgres.start()
    redis.start()
    yield postgres, redis
    redis.stop()
    postgres.remove()


def replica_env(postgres: PostgresServer, redis: RedisServer) -> dict:
    return {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "CONVERSATION_KEY": KEY,
            "CONVERSATION_LOCK_SECONDS": "3", "HANDOFF_REMINDER_MINUTES": "600"}


@pytest.fixture
def replica(servers, tmp_path):
    running = Replica(tmp_path, replica_env(*servers), "replica")
    start_replicas([running])
    yield running
    running.kill()


async def ready(session: aiohttp.ClientSession, replica: Replica) -> bool:
    async with session.get(f"{replica.base}/readyz") as resp:
        return resp.status == 200


async def eventually_ready(session: aiohttp.ClientSession, replica: Replica, deadline_s: float = 30) -> None:
    """Poll readiness (every 50 ms) until the replica has recovered by itself."""
    end = asyncio.get_running_loop().time() + deadline_s
    while not await ready(session, replica):
        assert asyncio.get_running_loop().time() < end, "the replica did not recover"
        await asyncio.sleep(0.05)


def texts(replies):
    return " ".join(r["text"] for r in replies)


@pytest.mark.parametrize("away", ["postgres", "redis"])
async def test_storage_away_for_a_while_still_answers_with_the_numbers_and_recovers(
        servers, replica, numbers, away):
    postgres, redis = servers
    server = postgres if away == "postgres" else redis
    person = f"person-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as session:
        first = await say(session, replica.base, person, "hello")
        assert FAILSAFE_START not in texts(first)

        server.stop()
        for message in ("he is hitting me right now", "hello", "what is human trafficking"):
            replies = await say(session, replica.base, person, message)
            assert numbers["emergency"] in texts(replies) and numbers["helpline"] in texts(replies)
        assert not await ready(session, replica)

        server.start()
        await eventually_ready(session, replica)
        replies = await say(session, replica.base, person, "what is human trafficking")
        assert replies and FAILSAFE_START not in texts(replies)  # normal service again
        async with session.get(f"{replica.base}/metrics") as resp:
            assert 'helpline_failsafe_replies_total{reason="storage"} 3.0' in await resp.text()


async def test_a_replica_killed_mid_conversation_loses_nothing(servers, tmp_path):
    postgres, redis = servers
    a, b = (Replica(tmp_path, replica_env(postgres, redis), name) for name in ("a", "b"))
    start_replicas([a, b])
    person = f"person-{uuid.uuid4().hex[:6]}"
    db = Database(postgres.url)
    try:
        async with aiohttp.ClientSession() as session:
            await say(session, a.base, person, "my boss keeps my passport and I work without pay")
            await say(session, a.base, person, "I want to talk to a counsellor")
            with db.session() as s:
                case = s.query(Case).one()
                operator = repo.add_operator(s, "nora", "payoke", "a long enough password")
                repo.claim(s, case, operator)
                case_id, operator_id = case.id, operator.id
            # A counsellor's reply waits in the shared outbox, not in a replica.
            service = HandoffService(db, assistant=None)
            assert await service.reply(case_id, operator_id, "I am here. Are you safe?") == "waiting"

            in_flight = asyncio.ensure_future(say(session, a.base, person, "yes I am safe now"))
            a.kill()
            with pytest.raises(aiohttp.ClientError):
                await in_flight  # the person's app retries on the other replica:
            assert await say(session, b.base, person, "yes I am safe now") == []  # kept for the counsellor
            assert await fetch(session, b.base, person) == [
                {"recipient_id": person, "text": "I am here. Are you safe?", "from": "counsellor"}]
            with db.session() as s:
                said = [t.text for t in s.get(Case, case_id).turns if t.who == "person"]
            assert said[-1] == "yes I am safe now"

            start_replicas([a])  # it comes back and serves the same conversations
            with db.session() as s:
                repo.close(s, s.get(Case, case_id), None, "referred", "")
            replies = await say(session, a.base, person, "what is the victim status")
            assert replies and FAILSAFE_START not in texts(replies)
    finally:
        db.dispose()
        a.kill()
        b.kill()


async def test_sigterm_finishes_the_messages_in_flight(replica):
    async with aiohttp.ClientSession() as session:
        senders = [f"graceful-{i}-{uuid.uuid4().hex[:6]}" for i in range(40)]
        pending = [asyncio.ensure_future(say(session, replica.base, s, "my boss took my passport"))
                   for s in senders]
        done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        assert not any(task.exception() for task in done)
        stopping = asyncio.get_running_loop().run_in_executor(None, replica.stop)
        while await ready(session, replica):  # draining: the load balancer is told at once
            await asyncio.sleep(0.05)
        answers = await asyncio.gather(*pending, return_exceptions=True)
        assert await stopping == 0
    failures = [a for a in answers if isinstance(a, BaseException)]
    assert not failures, f"{len(failures)} of {len(answers)} messages in flight were dropped"
    assert all(answer and answer[0]["text"] for answer in answers)


# -- Telegram answering 500 or timing out --------------------------------------------------
TOKEN = "515151:fault-test-token"


async def test_operator_replies_reach_telegram_once_the_api_is_back(assistant, settings, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr("bot.connectors.telegram.SERVER_ERROR_BACKOFF_S", 0.01)
    db = Database(f"sqlite:///{tmp_path / 'telegram-faults.db'}")
    db.migrate()
    outbox = Outbox(db)
    service = HandoffService(db, assistant, outbox, AddressBook(db, settings.conversation_key))
    with db.session() as s:
        operator_id = repo.add_operator(s, "tom", "pagasa", "a long enough password").id
    chat = 8800001
    async with FakeBotAPI(TOKEN) as fake:
        connector = TelegramConnector(assistant, settings, TelegramConfig(
            token=TOKEN, api_url=fake.base_url, poll_timeout=1, request_timeout=0.5), service.addresses)
        await asyncio.wait_for(connector.start(), 30)
        service.register_channel("telegram", connector.deliver)
        assistant.handoffs = service
        worker = None
        try:
            fake.queue(fake.message(chat, "I want to talk to a real person", language_code="en"))
            await fake.wait_for_text(chat, assistant.nlg.system_text("handoff.choose_centre", "en"))
            with db.session() as s:
                case = s.query(Case).one()
                case_id, conversation = case.id, case.conversation_id

            fake.fail_next("sendMessage", times=1000, status=500, chat_id=chat)
            assert await service.reply(case_id, operator_id, "first, while Telegram fails") == "queued"
            fake.heal()
            fake.stall_next("sendMessage", times=1000, seconds=1.5, chat_id=chat)
            assert await service.reply(case_id, operator_id, "second, while Telegram hangs") == "queued"
            assert [c.params["text"] for c in fake.sent_to(chat)][-1] != "second, while Telegram hangs"

            fake.heal()  # Telegram is back: the outbox worker delivers without anyone asking
            worker = asyncio.ensure_future(outbox.run(every_s=0.1))
            await fake.wait_for_text(chat, "second, while Telegram hangs")
            delivered = [c.params["text"] for c in fake.sent_to(chat)]
            assert delivered[-2:] == ["first, while Telegram fails", "second, while Telegram hangs"]
            assert delivered.count("first, while Telegram fails") == 1
            end = asyncio.get_running_loop().time() + 10
            while outbox.waiting(conversation):  # removed once Telegram has confirmed it
                assert asyncio.get_running_loop().time() < end
                await asyncio.sleep(0.02)
        finally:
            if worker is not None:
                worker.cancel()
            assistant.handoffs = None
            await asyncio.wait_for(connector.stop(), 30)
            db.dispose()
