"""The service's Redis client: short time-outs, and a dead connection replaced and the
command tried again (after Redis restarts), for every part that uses ``REDIS_URL``."""

from __future__ import annotations

from typing import Any

DEFAULT_TIMEOUT_S = 2.0


def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Any:
    """A ``redis.asyncio.Redis`` for ``url``; connecting is lazy (nothing is sent yet)."""
    import redis.asyncio
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeout
    from redis.retry import Retry

    return redis.asyncio.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
        retry_on_error=[RedisConnectionError, RedisTimeout])
