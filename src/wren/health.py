"""Liveness and readiness, for load balancers and Kubernetes probes.

`/healthz` is liveness: the process answers (restart it when it does not). `/readyz` is
readiness: the database answers a query within a short timeout (send no traffic when it
does not: 503). Redis is not needed to answer, only to answer fast: with it down the
instance is ready but degraded, and says so in the body. An instance shutting down is
unready (503, "draining") while it still serves what arrives (see wren.shutdown).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, literal_column, select

from wren.errors import ServiceUnavailable

if TYPE_CHECKING:
    from wren.cache.client import RedisClient
    from wren.db.engine import Database

log = logging.getLogger("wren.health")

_PROBE: Select[Any] = select(literal_column("1"))
# A probe must answer well within a probe's own timeout (Kubernetes: 1 s by default).
PROBE_TIMEOUT = 0.8


async def _database(db: Database) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await db.fetch(_PROBE)
    except (ServiceUnavailable, TimeoutError):
        return False
    return True


async def _redis(redis: RedisClient) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await redis.ping()
    except Exception:  # any failure means "not usable now"; the cache fails open anyway
        return False
    return True


async def readiness(
    db: Database, redis: RedisClient, *, draining: bool = False
) -> tuple[int, dict[str, Any]]:
    """The status code and body of /readyz; 503 at once while the instance drains."""
    if draining:
        # Shutting down (wren.shutdown): send no new traffic here, whatever the database says.
        return 503, {"status": "draining"}
    database, cache = await asyncio.gather(_database(db), _redis(redis))
    body = {
        "status": "unavailable" if not database else "ready" if cache else "degraded",
        "database": "ok" if database else "unavailable",
        "redis": "ok" if cache else "unavailable",
    }
    return (200 if database else 503), body
