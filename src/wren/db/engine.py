"""One pooled async engine per process, and the read path every batch function uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Executable
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wren.db import inflight, integrity
from wren.errors import BadUserInput, ServiceUnavailable
from wren.settings import Settings

# The database is unreachable or refusing, or no pooled connection came within
# pool_timeout: the request cannot be served right now, and retrying later may work.
UNAVAILABLE = (
    sa_exc.TimeoutError,
    sa_exc.InterfaceError,
    sa_exc.OperationalError,
    OSError,
    TimeoutError,
)


# SQLSTATE of a string PostgreSQL cannot represent (a NUL character).
UNTRANSLATABLE_CHARACTER = "22021"

# SQLSTATE classes of a server that cannot take the request now: 08 connection exception,
# 53 insufficient resources ("too many clients"), 57P operator intervention (shutting down,
# starting up). The driver reports them as plain DBAPI errors.
_UNAVAILABLE_STATES = ("08", "53", "57P")


def _sqlstate(error: sa_exc.DBAPIError) -> str:
    """The SQLSTATE behind a DBAPI error, however the driver adapter wrapped it."""
    for candidate in (error.orig, getattr(error.orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


def unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot serve now and a retry later may work."""
    if isinstance(error, UNAVAILABLE):
        return True
    return isinstance(error, sa_exc.DBAPIError) and _sqlstate(error).startswith(_UNAVAILABLE_STATES)


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The process's engine, its pool sized by settings."""
    database_url = url or settings.database_url
    if database_url is None:
        raise ValueError("no database URL: set WREN_DATABASE_URL or start the embedded one")
    return create_async_engine(
        database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args={
            "server_settings": {"application_name": "wren", "timezone": "UTC"},
            "timeout": settings.pool_timeout,
        },
    )


class Database:
    """Read access for batch functions: each call checks out its own pooled connection."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # Reads run in autocommit: no BEGIN/ROLLBACK round trips around a single SELECT.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def fetch(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Run one read statement on its own connection and return every row."""
        values = dict(params or {})
        try:
            try:
                return await self._fetch(statement, values)
            except sa_exc.DBAPIError as error:
                # A pooled connection the server had closed (restart, idle timeout): the
                # pool has dropped it, so one retry runs on a fresh connection. This stands
                # in for pool_pre_ping, which costs a round trip on every checkout (three:
                # SQLAlchemy wraps the ping in BEGIN/ROLLBACK before autocommit applies).
                if not error.connection_invalidated:
                    raise
                return await self._fetch(statement, values)
        except (*UNAVAILABLE, sa_exc.DBAPIError) as error:
            if unavailable(error):
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from error
            # PostgreSQL text cannot hold U+0000: such an argument matches nothing, and
            # comparing with it fails the statement. A client mistake, not a server failure.
            if isinstance(error, sa_exc.DBAPIError) and (
                _sqlstate(error) == UNTRANSLATABLE_CHARACTER
            ):
                raise BadUserInput("Strings may not contain the NUL character (U+0000).") from error
            raise

    async def _fetch(self, statement: Executable, params: dict[str, Any]) -> Sequence[Row[Any]]:
        with inflight.registered():
            async with self._reader.connect() as conn:
                return (await conn.execute(statement, params)).all()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One read-write transaction: committed when the block ends, rolled back if it raises."""
        try:
            async with self.engine.begin() as conn:
                yield conn
        except sa_exc.IntegrityError as error:
            domain = integrity.meaning(error)
            if domain is None:
                raise
            raise domain from error
        except (*UNAVAILABLE, sa_exc.DBAPIError) as error:
            if unavailable(error):
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from error
            raise
