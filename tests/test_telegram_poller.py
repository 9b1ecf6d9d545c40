"""One Telegram poller across replicas: the Redis lease of bot.connectors.telegram_lease.

Two connectors on one bot token (two replicas) long-poll one fake Bot API, each under a
:class:`PollerLease` on one real Redis server. The fake listens on two ports, one per
replica, so every call shows which replica made it, and (like Telegram) answers a
``getUpdates`` with 409 Conflict while the other replica's is still open. Windows of
time are measured in polls made or lease attempts failed, never slept.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import re
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List

import pytest
from aiohttp import web

from bot.connectors.identity import conversation_id
from bot.connectors.telegram import TelegramConfig, TelegramConnector
from bot.connectors.telegram_lease import PollerLease
from tests.cluster import free_port
from tests.fake_bot_api import FIRST_NAME, LAST_NAME, USERNAME, Call, FakeBotAPI

TOKEN = "454545:poller-test-token"
TTL_S = 3.0  # generous: a busy test machine must not lose a lease by being slow
RENEW_S = 0.3
CHAT_IDS = itertools.count(7200001)
DOOR: contextvars.ContextVar[str] = contextvars.ContextVar("door", default="?")
OTHER = {"a": "b", "b": "a"}


@dataclass
class Poll:
    """A ``getUpdates`` as it began: which replica, its long-poll timeout, when."""

    door: str
    timeout: float
    at: float

    @property
    def long(self) -> bool:
        return self.timeout > 0  # PTB's last call when it stops polling has timeout 0


class TwoDoors(FakeBotAPI):
    """The fake Bot API on two ports: replica "a" calls one, replica "b" the other."""

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.port_b = 0
        self.polls: List[Poll] = []
        self.conflicts: List[str] = []
        self._open: Dict[str, int] = {"a": 0, "b": 0}

    async def __aenter__(self) -> "TwoDoors":
        await super().__aenter__()
        # A poll whose client hung up ends at once (as with Telegram), not at its timeout.
        self._runner.server.handler_cancellation = True
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port_b = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    @property
    def base_url_b(self) -> str:
        return f"http://127.0.0.1:{self.port_b}/bot"

    async def _handle(self, request: web.Request) -> web.Response:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        DOOR.set("a" if sockname and sockname[1] == self.port else "b")
        return await super()._handle(request)

    async def _record(self, call: Call) -> None:
        call.door = DOOR.get()
        await super()._record(call)

    async def _api_getUpdates(self, params):
        door = DOOR.get()
        async with self._changed:
            self.polls.append(Poll(door, float(params.get("timeout") or 0), time.monotonic()))
            self._changed.notify_all()
        if self._open[OTHER[door]]:
            self.conflicts.append(door)
            return self._error(409, "Conflict: terminated by other getUpdates request")
        self._open[door] += 1
        try:
            return await super()._api_getUpdates(params)
        finally:
            self._open[door] -= 1

    def long_polls(self, since: int = 0) -> List[Poll]:
        return [p for p in self.polls[since:] if p.long]

    async def wait_polls(self, count: int, since: int = 0, door: str = "", timeout: float = 60.0) -> None:
        """Until ``count`` long polls (of ``door``, if given) began after ``polls[since]``."""
        def enough() -> bool:
            return len([p for p in self.long_polls(since) if not door or p.door == door]) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout)

    def answers(self, chat: int, text: str) -> List[Call]:
        return [c for c in self.sent_to(chat) if c.params.get("text") == text]


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Poll ``check`` every 20 ms until true; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout:.0f} s")
        await asyncio.sleep(0.02)


# -- fixtures ---------------------------------------------------------------------------
@pytest.fixture
def key() -> str:
    return f"test:telegram:poller:{uuid.uuid4().hex}"


@pytest.fixture
async def fake():
    async with TwoDoors(TOKEN) as api:
        yield api


@pytest.fixture
async def replicas(assistant, settings, fake, redis_server, key):
    made = {door: TelegramConnector(assistant, settings,
                                    TelegramConfig(token=TOKEN, api_url=url, poll_timeout=1),
                                    lease=PollerLease(redis_server.url, key=key, ttl_s=TTL_S,
                                                      renew_every_s=RENEW_S))
            for door, url in (("a", fake.base_url), ("b", fake.base_url_b))}
    await asyncio.wait_for(asyncio.gather(*(c.start() for c in made.values())), 60)
    yield made
    for connector in made.values():
        await asyncio.wait_for(connector.stop(), 60)


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.INFO)
    return caplog


# -- helpers ----------------------------------------------------------------------------
async def the_poller(fake: TwoDoors, since: int = 0, polls: int = 3) -> str:
    """The door of the one replica polling: after ``polls`` long polls, all from it."""
    await fake.wait_polls(polls, since)
    doors = {p.door for p in fake.long_polls(since)}
    assert len(doors) == 1 and not fake.conflicts, f"both replicas polled: {doors}"
    return doors.pop()


async def ask_help(fake: TwoDoors, connector: TelegramConnector, door: str) -> int:
    """A /help queued to the fake is answered exactly once, by ``door``'s replica."""
    chat = next(CHAT_IDS)
    help_text = connector.nlg.system_text("telegram.help", "en")
    fake.queue(fake.message(chat, "/help", language_code="en"))
    await fake.wait_for_text(chat, help_text)
    # Two more polls by the poller: the update is confirmed, a second taker had its chance.
    await fake.wait_polls(2, since=len(fake.polls), door=door)
    answers = fake.answers(chat, help_text)
    assert [c.door for c in answers] == [door]
    return chat


def assert_nothing_personal_logged(logs) -> None:
    for secret in (FIRST_NAME, LAST_NAME, USERNAME, TOKEN):
        assert secret not in logs.text


# -- the lease ----------------------------------------------------------------------------
async def test_only_one_lease_holds_the_key_until_released(redis_server, key):
    first = PollerLease(redis_server.url, key=key, ttl_s=TTL_S, renew_every_s=RENEW_S)
    second = PollerLease(redis_server.url, key=key, ttl_s=TTL_S, renew_every_s=RENEW_S)
    try:
        assert await first.acquire() and first.held
        assert not await second.acquire() and not second.held
        assert not await second.renew()  # not the holder: nothing extended
        assert not await second.release()  # nor deleted
        assert await first.red.get(key) == first.token.encode()
        assert 0 < await first.red.pttl(key) <= TTL_S * 1000
        assert await first.renew()
        assert await first.acquire()  # already ours: still ours
        assert await first.release() and not first.held
        assert await first.red.get(key) is None
        assert await second.acquire()
        assert not await first.acquire() and not await first.renew()
        assert await first.red.get(key) == second.token.encode()
    finally:
        await first.close()
        await second.close()


async def test_an_unrenewed_lease_expires_and_another_takes_it(redis_server, key):
    first = PollerLease(redis_server.url, key=key, ttl_s=0.5, renew_every_s=0.1)
    second = PollerLease(redis_server.url, key=key, ttl_s=0.5, renew_every_s=0.1)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        taken = []

        async def second_takes() -> bool:
            taken.append(await second.acquire())
            return taken[-1]

        deadline = time.monotonic() + 30
        while not await second_takes():  # the first replica died: its lease runs out
            assert time.monotonic() < deadline, "the lease never expired"
            await asyncio.sleep(0.02)
        assert len(taken) > 1  # not at once: only when it had expired
        assert not await first.renew() and not first.held
    finally:
        await first.close()
        await second.close()


async def test_lease_without_redis_answers_false_and_never_starts(logs):
    lease = PollerLease(f"redis://127.0.0.1:{free_port()}/0", key="k", ttl_s=1.5, renew_every_s=0.05)
    starts: List[int] = []

    async def start() -> None:
        starts.append(1)

    try:
        assert not await lease.acquire()
        assert not await lease.renew()
        assert not await lease.release()
        keeping = asyncio.get_running_loop().create_task(lease.keep(start, start))
        await eventually(lambda: lease.errors >= 8, "retrying")
        assert not keeping.done() and not starts and not lease.held
        keeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await keeping
    finally:
        await lease.close()
    warnings = [r.getMessage() for r in logs.records if r.name.endswith("telegram_lease")
                and r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not once per attempt
    assert re.fullmatch(r".*Redis unavailable \((ConnectionError|TimeoutError|OSError)\);.*", warnings[0])
    assert "127.0.0.1" not in warnings[0]


async def test_keep_stops_when_the_lease_is_taken_away(redis_server, key):
    lease = PollerLease(redis_server.url, key=key, ttl_s=TTL_S, renew_every_s=0.05)
    events: List[str] = []

    async def start() -> None:
        events.append("start")

    async def stop() -> None:
        events.append("stop")

    keeping = asyncio.get_running_loop().create_task(lease.keep(start, stop))
    try:
        await eventually(lambda: events == ["start"], "started")
        await lease.red.set(key, "another-replica")  # e.g. it expired and was taken meanwhile
        await eventually(lambda: events == ["start", "stop"], "stopped")
        assert not lease.held and not keeping.done()
        await lease.red.delete(key)  # free again: taken again
        await eventually(lambda: events == ["start", "stop", "start"], "restarted")
        assert await lease.red.get(key) == lease.token.encode()
    finally:
        keeping.cancel()
        with pytest.raises(asyncio.CancelledError):
            await keeping
        await lease.close()


# -- two replicas -----------------------------------------------------------------------------
async def test_one_replica_polls_answers_once_and_hands_over_when_stopped(fake, replicas, key, logs):
    door = await the_poller(fake)
    holder, other = replicas[door], replicas[OTHER[door]]
    assert holder.lease.held and not other.lease.held
    assert holder.ready.is_set() and other.ready.is_set()
    assert not any(c.door == OTHER[door] for c in fake.calls if c.method == "getUpdates")

    await ask_help(fake, holder, door)

    # The replica that does not poll still sends (a counsellor's message, say).
    chat = next(CHAT_IDS)
    sender = conversation_id("tg", chat, other.settings.conversation_key)
    other.chats[sender] = chat
    await other.deliver(sender, "from a counsellor")
    assert [c.door for c in fake.sent_to(chat)] == [OTHER[door]]

    mark = len(fake.polls)
    await asyncio.wait_for(holder.stop(), 60)
    # Released on the way out (not left to expire): free, or already the other's.
    assert await other.lease.red.get(key) in (None, other.lease.token.encode())
    stopped_at = time.monotonic()
    await fake.wait_polls(3, since=mark, door=OTHER[door])
    assert all(p.door == OTHER[door] for p in fake.long_polls(mark) if p.at > stopped_at)
    assert other.lease.held

    await ask_help(fake, other, OTHER[door])
    assert not fake.conflicts
    assert_nothing_personal_logged(logs)


async def test_without_redis_nobody_polls_and_after_it_one_replica_does(fake, replicas, redis_server, logs):
    door = await the_poller(fake)
    holder = replicas[door]

    outage = time.monotonic()
    redis_server.stop()
    # PTB's last call as it stops polling: a getUpdates without waiting, confirming the offset.
    await fake.wait_for(lambda c: c.method == "getUpdates" and c.door == door and c.at > outage
                        and c.params.get("timeout") == 0)
    mark = len(fake.polls)
    assert not holder.lease.held and not holder.application.updater.running
    chat = next(CHAT_IDS)
    help_text = holder.nlg.system_text("telegram.help", "en")
    fake.queue(fake.message(chat, "/help", language_code="en"))
    errors = {d: r.lease.errors for d, r in replicas.items()}
    # A window of several failed attempts on each replica: nobody polls, nothing crashes.
    await eventually(lambda: all(r.lease.errors >= errors[d] + 5 for d, r in replicas.items()),
                     "retrying without Redis")
    assert not fake.long_polls(mark)
    assert not fake.answers(chat, help_text)
    for connector in replicas.values():
        assert connector.ready.is_set() and not connector._poller.done()
        assert not connector.lease.held and not connector.application.updater.running
    lease_warnings = [r.getMessage() for r in logs.records if r.name.endswith("telegram_lease")
                      and r.levelno == logging.WARNING]
    assert any(re.search(r"Redis unavailable \(\w+\)", w) for w in lease_warnings)

    redis_server.start()
    mark = len(fake.polls)
    door = await the_poller(fake, since=mark)
    await fake.wait_for_text(chat, help_text)  # the message held meanwhile is answered
    await fake.wait_polls(2, since=len(fake.polls), door=door)
    assert [c.door for c in fake.answers(chat, help_text)] == [door]
    assert replicas[door].lease.held and not replicas[OTHER[door]].lease.held
    assert {p.door for p in fake.long_polls(mark)} == {door}
    assert not fake.conflicts
    await ask_help(fake, replicas[door], door)
    assert_nothing_personal_logged(logs)


# -- configuration ---------------------------------------------------------------------------
def test_from_env_takes_a_lease_only_for_polling_with_redis(assistant, settings):
    base = {"TELEGRAM_BOT_TOKEN": TOKEN}
    polling = TelegramConnector.from_env(assistant, settings, {**base, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert isinstance(polling.lease, PollerLease)
    assert polling.lease.key == "helpline:telegram:poller" and polling.lease.ttl_s == 15
    assert TelegramConnector.from_env(assistant, settings, base).lease is None
    webhook = TelegramConnector.from_env(assistant, settings, {
        **base, "REDIS_URL": "redis://127.0.0.1:1/0", "TELEGRAM_WEBHOOK_URL": "https://example.org/hook"})
    assert webhook.lease is None
    with pytest.raises(ValueError):
        PollerLease("redis://127.0.0.1:1/0", ttl_s=1.0, renew_every_s=1.0)
