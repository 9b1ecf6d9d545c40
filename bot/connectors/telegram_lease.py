"""One Telegram poller across all replicas, guarded by a lease in Redis.

Telegram hands each update to one ``getUpdates`` caller only: two replicas long-polling
the same bot would take each other's updates (a message answered by whichever replica
happened to ask, offsets confirmed out of order) and Telegram answers the second poller
``409 Conflict``. In polling mode with ``REDIS_URL`` set, a replica therefore polls only
while it holds :class:`PollerLease`: a Redis key set with ``SET key <token> NX PX ttl``,
renewed every few seconds by a Lua script that extends it only while it still holds this
replica's random token, and deleted (again only if ours) when the replica stops, so that
another one takes over at once. A replica that dies without releasing loses the lease
when it expires (``ttl_s``, 15 s); the others keep trying every ``renew_every_s``.

Redis failing must never take the service down, but it must not lead to two pollers
either: while Redis cannot be reached no replica polls (a warning names the exception
type only), and a lease that cannot be renewed - lost to another replica, Redis gone,
or a renewal slower than the time left - stops polling on that replica at once. Every
replica still sends (counsellors' messages, replies to updates it already took); only
the polling moves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any, Awaitable, Callable

from bot.storage import shared_redis

logger = logging.getLogger(__name__)

DEFAULT_KEY = "helpline:telegram:poller"
DEFAULT_TTL_S = 15.0
DEFAULT_RENEW_EVERY_S = 5.0
REDIS_TIMEOUT_S = shared_redis.DEFAULT_TIMEOUT_S  # at most; shorter for a short lease

# KEYS[1] the lease, ARGV[1] our token, ARGV[2] the lifetime in ms.
RENEW_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

Step = Callable[[], Awaitable[Any]]


class PollerLease:
    """The right to poll, held by at most one replica at a time; see the module docstring.

    ``acquire``, ``renew`` and ``release`` never raise for Redis: they answer False
    when the lease is not (or no longer) ours, or Redis cannot be reached.
    """

    def __init__(self, redis_url: str, key: str = DEFAULT_KEY, ttl_s: float = DEFAULT_TTL_S,
                 renew_every_s: float = DEFAULT_RENEW_EVERY_S) -> None:
        if not 0 < renew_every_s < ttl_s:
            raise ValueError("the lease must be renewed more often than it expires")
        self.key = key
        self.ttl_s = ttl_s
        self.renew_every_s = renew_every_s
        self.token = secrets.token_hex(16)
        self.held = False
        self.errors = 0  # Redis failures so far (the warning is logged once per outage)
        self._expires = 0.0  # monotonic time by which the lease is surely gone if not renewed
        self._failing = False
        timeout = min(REDIS_TIMEOUT_S, ttl_s / 3)
        self.red = shared_redis.connect(redis_url, timeout)
        self._renew = self.red.register_script(RENEW_SCRIPT)
        self._release = self.red.register_script(RELEASE_SCRIPT)

    @property
    def _ttl_ms(self) -> int:
        return max(int(self.ttl_s * 1000), 1)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or still ours); True when this replica holds it."""
        sent = time.monotonic()
        try:
            taken = await self.red.set(self.key, self.token, nx=True, px=self._ttl_ms)
        except Exception as exc:  # noqa: BLE001 - Redis down must not stop the service
            return self._failed(exc)
        self._reachable()
        if taken:
            self.held, self._expires = True, sent + self.ttl_s
            return True
        return await self.renew()  # e.g. a renewal failed but the key is still ours

    async def renew(self) -> bool:
        """Extend the lease if it still holds our token; False (and not held) otherwise."""
        sent = time.monotonic()
        try:
            if self.held:  # a renewal slower than the time left is as good as lost
                left = self._expires - sent
                if left <= 0:
                    raise asyncio.TimeoutError()
                # asyncio.wait, not wait_for: on Python 3.10 wait_for can swallow a
                # cancellation that arrives as the renewal completes, and keep() then never ends.
                renewal = asyncio.ensure_future(self._renew(keys=[self.key], args=[self.token, self._ttl_ms]))
                try:
                    done, _ = await asyncio.wait({renewal}, timeout=left)
                finally:
                    if not renewal.done():
                        renewal.cancel()
                if not done:
                    raise asyncio.TimeoutError()
                renewed = renewal.result()
            else:
                renewed = await self._renew(keys=[self.key], args=[self.token, self._ttl_ms])
        except Exception as exc:  # noqa: BLE001 - Redis down must not stop the service
            return self._failed(exc)
        self._reachable()
        self.held = bool(renewed)
        if self.held:
            self._expires = sent + self.ttl_s
        return self.held

    async def release(self) -> bool:
        """Give the lease up if it is ours, so another replica can take it at once."""
        self.held = False
        try:
            released = await self._release(keys=[self.key], args=[self.token])
        except Exception as exc:  # noqa: BLE001 - it expires by itself
            return self._failed(exc)
        self._reachable()
        return bool(released)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.red.aclose()

    async def keep(self, start: Step, stop: Step) -> None:
        """Until cancelled: take the lease when free and keep renewing it; ``start()`` once it
        is held, ``stop()`` as soon as it is not. Neither is interrupted by a cancellation;
        the caller releases the lease after its own stop."""
        active = False
        while True:
            held = await (self.renew() if self.held else self.acquire())
            if held and not active:
                logger.info("telegram poller lease taken: this replica polls")
                active = await self._run(start, "start polling")
                if active and not await self.renew():  # the start took long: still ours?
                    held = False
            if not held and active:
                logger.warning("telegram poller lease lost: this replica stops polling")
                await self._run(stop, "stop polling")
                active = False
            await asyncio.sleep(self.renew_every_s)

    @staticmethod
    async def _run(step: Step, what: str) -> bool:
        task = asyncio.ensure_future(step())
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await task  # finish what was begun (PTB's updater must not be cut in half)
            raise
        except Exception as exc:  # noqa: BLE001 - tried again at the next renewal
            logger.error("telegram: could not %s (%s)", what, type(exc).__name__)
            return False
        return True

    def _failed(self, exc: BaseException) -> bool:
        self.held = False
        self.errors += 1
        if not self._failing:
            self._failing = True
            logger.warning("telegram poller lease: Redis unavailable (%s); not polling until it is back",
                           type(exc).__name__)
        return False

    def _reachable(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("telegram poller lease: Redis reachable again")
