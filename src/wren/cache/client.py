"""The Redis clients: a real server when configured, an in-process stand-in otherwise."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from wren.settings import Settings

log = logging.getLogger(__name__)


def create_redis(settings: Settings) -> Redis:
    """The process's Redis client, with short timeouts: the cache must never stall a request."""
    if settings.redis_url is None:
        from fakeredis import FakeAsyncRedis

        log.warning(
            "WREN_REDIS_URL is not set: caching in an in-process stand-in "
            "(not shared between workers; set WREN_REDIS_URL to a real Redis for production)"
        )
        client: Redis = FakeAsyncRedis()
        return client
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout,
        socket_connect_timeout=settings.redis_timeout,
        health_check_interval=30,
        # No retries inside the client: a failed call is skipped (the request answers from
        # PostgreSQL) and the circuit breaker decides when to try Redis again.
        retry=Retry(NoBackoff(), 0),
    )


def create_listener_redis(settings: Settings, stand_in: Redis) -> Redis:
    """The client of the process's pub/sub connection (the stand-in's own when unset).

    Unlike the cache's client it has no read timeout: the connection idles between events.
    """
    if settings.redis_url is None:
        return stand_in
    return Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=settings.redis_timeout,
        socket_keepalive=True,
        health_check_interval=30,
    )
