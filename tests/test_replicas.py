"""Two replicas on loopback sharing their own PostgreSQL and Redis, as in a deployment.

Real ``python -m bot serve`` processes (Rasa's SQL tracker store on PostgreSQL, the
Redis conversation lock), real HTTP. Conversations are spread over both replicas,
message by message and at the same instant; every conversation's events must stay
complete and in order. A handoff opened through one replica is answered by an
operator logged in on the other.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Dict, List

import aiohttp
import psycopg2
import pytest

from bot.connectors.identity import conversation_id
from bot.storage import repository as repo
from bot.storage.database import Database
from tests.cluster import PostgresServer, RedisServer, Replica, fetch, say, start_replicas

KEY = "replica-test-key-" + uuid.uuid4().hex
PASSWORD = "a long enough password"
SCRIPT = ["hello", "what is human trafficking", "is it free and confidential",
          "what are the signs of trafficking", "thank you", "bye"]


class Cluster:
    def __init__(self, postgres: PostgresServer, redis: RedisServer, replicas: List[Replica]) -> None:
        self.postgres, self.redis, self.replicas = postgres, redis, replicas

    def events(self, sender: str) -> List[Dict]:
        """The Rasa events of one web conversation, in the order they were stored."""
        with psycopg2.connect(self.postgres.url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id",
                           (conversation_id("web", sender, KEY.encode()),))
            return [json.loads(row[0]) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    folder = tmp_path_factory.mktemp("replicas")
    postgres, redis = PostgresServer(), RedisServer()
    postgres.start()
    redis.start()
    env = {"DATABASE_URL": postgres.url, "REDIS_URL": redis.url, "CONVERSATION_KEY": KEY,
           "HANDOFF_REMINDER_MINUTES": "600"}
    replicas = [Replica(folder, env, "replica-a"), Replica(folder, env, "replica-b")]
    try:
        start_replicas(replicas)
        yield Cluster(postgres, redis, replicas)
    finally:
        for replica in replicas:
            replica.kill()
        redis.stop()
        postgres.remove()


def user_texts(events: List[Dict]) -> List[str]:
    return [e["text"] for e in events if e["event"] == "user"]


def assert_turns_are_whole(events: List[Dict]) -> None:
    """Each message is followed by the bot's answer before the next message starts."""
    users = [i for i, e in enumerate(events) if e["event"] == "user"]
    for start, end in zip(users, users[1:] + [len(events)]):
        turn = [e["event"] for e in events[start + 1:end]]
        assert "bot" in turn, f"a message without its answer: {turn}"
        assert events[end - 1]["event"] == "action" and events[end - 1]["name"] == "action_listen"


async def test_interleaved_conversations_stay_complete_and_in_order(cluster):
    a, b = cluster.replicas
    senders = [f"interleaved-{i}-{uuid.uuid4().hex[:6]}" for i in range(24)]

    async def converse(index: int, sender: str, session: aiohttp.ClientSession) -> None:
        for turn, text in enumerate(SCRIPT):
            replica = (a, b)[(index + turn) % 2]  # every message to the other replica
            replies = await say(session, replica.base, sender, text)
            assert replies and all(r["text"] for r in replies)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(converse(i, s, session) for i, s in enumerate(senders)))
    for sender in senders:
        events = cluster.events(sender)
        assert user_texts(events) == SCRIPT  # nothing lost, nothing twice, in order
        assert_turns_are_whole(events)


async def test_messages_of_one_conversation_at_the_same_instant_take_turns(cluster):
    a, b = cluster.replicas
    senders = [f"same-instant-{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    async with aiohttp.ClientSession() as session:
        for round_ in range(3):
            answers = await asyncio.gather(*(
                say(session, replica.base, sender, f"{text} {round_}")
                for sender in senders for replica, text in ((a, "hello"), (b, "thank you"))))
            assert all(answers)
    for sender in senders:
        events = cluster.events(sender)
        assert sorted(user_texts(events)) == sorted(f"{t} {r}" for r in range(3) for t in ("hello", "thank you"))
        assert_turns_are_whole(events)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def test_a_handoff_opened_on_one_replica_is_answered_from_the_other(cluster):
    a, b = cluster.replicas
    login = f"op-{uuid.uuid4().hex[:6]}"
    db = Database(cluster.postgres.url)
    with db.session() as session:
        repo.add_operator(session, login, "payoke", PASSWORD)
    db.dispose()
    person = f"person-{uuid.uuid4().hex[:6]}"
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession() as chat, aiohttp.ClientSession(cookie_jar=jar) as console:
        await say(chat, a.base, person, "my boss took my passport and I must work without pay")
        replies = await say(chat, a.base, person, "I want to talk to a real person")
        assert any(r.get("buttons") for r in replies)  # the choice of a centre: a case is open

        async with console.get(f"{b.base}/console/login") as resp:
            form = csrf_of(await resp.text())
        async with console.post(f"{b.base}/console/login", allow_redirects=False,
                                data={"csrf": form, "login": login, "password": PASSWORD}) as resp:
            assert resp.status == 303
        async with console.get(f"{b.base}/console/queue.json") as resp:
            cases = (await resp.json())["cases"]
        case_id = max(c["id"] for c in cases)
        # The session lives in the shared database: the other replica knows it too.
        async with console.get(f"{a.base}/console/queue.json") as resp:
            assert resp.status == 200 and case_id in [c["id"] for c in (await resp.json())["cases"]]

        async with console.get(f"{b.base}/console/cases/{case_id}") as resp:
            csrf = csrf_of(await resp.text())
        for action, fields in (("claim", {}), ("reply", {"text": "Hello, I am Nora from Payoke."})):
            async with console.post(f"{b.base}/console/cases/{case_id}/{action}", allow_redirects=False,
                                    data={"csrf": csrf, **fields}) as resp:
                assert resp.status == 303 and "notice" not in resp.headers["Location"]

        assert await fetch(chat, a.base, person) == [
            {"recipient_id": person, "text": "Hello, I am Nora from Payoke.", "from": "counsellor"}]
        assert await fetch(chat, b.base, person) == []  # delivered once

        assert await say(chat, a.base, person, "thank you, I am scared") == []  # a human has it
        async with console.get(f"{b.base}/console/cases/{case_id}/turns.json") as resp:
            turns = [(t["who"], t["text"]) for t in (await resp.json())["turns"]]
        assert turns[-2:] == [("operator", "Hello, I am Nora from Payoke."), ("person", "thank you, I am scared")]

        async with console.post(f"{b.base}/console/cases/{case_id}/hand_back", allow_redirects=False,
                                data={"csrf": csrf}) as resp:
            assert resp.status == 303
        assert [m["from"] for m in await fetch(chat, a.base, person)] == ["assistant"]
        assert await say(chat, b.base, person, "hello")  # the assistant answers again, anywhere


async def test_metrics_and_readiness_on_every_replica(cluster):
    async with aiohttp.ClientSession() as session:
        for replica in cluster.replicas:
            async with session.get(f"{replica.base}/readyz") as resp:
                assert resp.status == 200
                assert (await resp.json())["checks"] == {"model": True, "accepting": True, "database": True, "redis": True}
            async with session.get(f"{replica.base}/metrics") as resp:
                text = await resp.text()
            assert re.search(r'^helpline_messages_total\{channel="web",language="en"\} [1-9]', text, re.M)
            assert re.search(r'^helpline_turn_seconds_bucket\{channel="web",le="0.25"\} [1-9]', text, re.M)
            assert re.search(r'^helpline_handoffs_waiting\{urgency="high"\} \d', text, re.M)
            assert "helpline_time_to_claim_seconds_count" in text


async def test_the_quick_exit_erases_the_conversation_for_every_replica(cluster):
    a, b = cluster.replicas
    person = f"leaving-{uuid.uuid4().hex[:6]}"
    async with aiohttp.ClientSession() as session:
        await say(session, a.base, person, "my boss keeps my passport")
        assert cluster.events(person)
        async with session.post(f"{b.base}/webhooks/rest/end", data=json.dumps({"sender": person})) as resp:
            assert resp.status == 200
        assert cluster.events(person) == []
        replies = await say(session, a.base, person, "yes")  # a new conversation: no context left
        assert replies
