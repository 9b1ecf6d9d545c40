"""The conversation lock: one turn per conversation, in order, and a bounded number of
turns of different conversations at once (the rest queue in order of arrival)."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import conversation_stores
from bot.storage.conversation_stores import LocalConversationLockStore, RedisConversationLockStore


async def _hold_all(store, conversations):
    """Each conversation takes the lock and holds it until released; returns the order in
    which they got it and the most that held it at once."""
    order, inside, most = [], 0, 0
    holding: set = set()
    release = asyncio.Event()

    async def turn(conversation: str) -> None:
        nonlocal inside, most
        async with store.lock(conversation):
            assert conversation not in holding  # one turn per conversation at a time
            holding.add(conversation)
            inside += 1
            most = max(most, inside)
            order.append(conversation)
            await release.wait()
            inside -= 1
            holding.discard(conversation)

    tasks = [asyncio.create_task(turn(c)) for c in conversations]
    # Until two hold the lock and the other conversations queue for a slot (the second
    # turn of "a" queues behind the first, before any slot).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while not (inside == 2 and store._slots.get(loop) is not None
               and len(store._slots[loop]._waiters or ()) == 2):
        assert loop.time() < deadline, (order, inside)
        await asyncio.sleep(0.001)
    held = list(order)
    release.set()
    await asyncio.gather(*tasks)
    return held, order, most


@pytest.mark.parametrize("kind", ["local", "redis"])
async def test_at_most_the_configured_turns_at_once_in_order(kind, monkeypatch, request):
    monkeypatch.setattr(conversation_stores, "TURN_CONCURRENCY", 2)
    if kind == "local":
        store = LocalConversationLockStore()
    else:
        server = request.getfixturevalue("redis_server")
        store = RedisConversationLockStore(url=server.url)
    conversations = ["a", "b", "a", "c", "d"]
    held, order, most = await _hold_all(store, conversations)
    assert sorted(held) == ["a", "b"]  # two at once, the rest wait
    assert most == 2
    assert sorted(order) == sorted(conversations)  # everyone got a turn
    if kind == "local":
        # Slots go in order of arrival; a conversation's second turn queues behind its first.
        # (With Redis, two turns that hold slots take the shared lock in either order.)
        assert order == ["a", "b", "c", "d", "a"]
