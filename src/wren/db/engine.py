"""One pooled async engine per process, and the read path every batch function uses."""

from __future__ import annotations

import time
from asyncio import current_task
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeAlias, cast

import asyncpg
from sqlalchemy import Executable, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from wren._compat import bind_processors, greenlet_spawn, positional_names
from wren.db import inflight, integrity
from wren.db.described import DescribedStatements
from wren.db.handoff import HandOffPool
from wren.db.kept import KeptConnections
from wren.db.outage import Outage
from wren.db.prepared import PreparedStatements
from wren.db.replicas import (
    REPLAYED_POSITION,
    WRITTEN_POSITION,
    Replica,
    ReplicaSet,
    RoutingCounters,
    commit_position,
)
from wren.db.url import engine_options
from wren.errors import BadUserInput, ServiceUnavailable
from wren.observability import CURRENT
from wren.settings import Pooler, Settings

if TYPE_CHECKING:
    from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool

    from wren.cache.marks import WriteMarks
    from wren.observability import Telemetry

# The database is unreachable or refusing, or no pooled connection came within
# pool_timeout: the request cannot be served right now, and retrying later may work.
UNAVAILABLE = (
    sa_exc.TimeoutError,
    sa_exc.InterfaceError,
    sa_exc.OperationalError,
    asyncpg.ConnectionDoesNotExistError,
    OSError,
    TimeoutError,
)

# Called with each statement's SQL and its positional parameters.
Watcher = Callable[[str, Sequence[Any]], None]

# Reads compiled and kept; the statements are module-level constants, a few dozen.
_MAX_COMPILED = 256

# What a read returns: one asyncpg record per row, values by column name (row["handle"]).
Row: TypeAlias = asyncpg.Record


class Reader(Protocol):
    """What batch functions read through: the Database, or one request's routed view of it."""

    # Reports loader batches; None when nothing observes (observability/).
    telemetry: Telemetry | None

    async def fetch(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Rows of one read statement (on a replica, when the reader routes it there)."""
        ...

    async def fetch_primary(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Rows of one read statement on the primary: for results that outlive the request."""
        ...


# SQLSTATE of a string PostgreSQL cannot represent (a NUL character).
UNTRANSLATABLE_CHARACTER = "22021"

# SQLSTATE classes of a server that cannot take the request now: 08 connection exception,
# 53 insufficient resources ("too many clients"), 57P operator intervention (shutting down,
# starting up). The driver reports them as plain DBAPI errors.
_UNAVAILABLE_STATES = ("08", "53", "57P")


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE behind a driver error, however SQLAlchemy's adapter wrapped it."""
    orig = getattr(error, "orig", None)
    for candidate in (error, orig, getattr(orig, "__cause__", None), error.__cause__):
        state = getattr(candidate, "sqlstate", None)
        if isinstance(state, str):
            return state
    return ""


def unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot serve now and a retry later may work."""
    if isinstance(error, UNAVAILABLE):
        return True
    return _sqlstate(error).startswith(_UNAVAILABLE_STATES)


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """The process's engine, its pool sized by settings, its driver set for the pooler."""
    database_url = url or settings.database_url
    if database_url is None:
        raise ValueError("no database URL: set WREN_DATABASE_URL or start the embedded one")
    options = engine_options(
        database_url, transaction_pooler=settings.database_pooler is Pooler.TRANSACTION
    )
    return create_async_engine(
        options.url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_recycle=settings.pool_recycle,
        pool_pre_ping=settings.pool_pre_ping,
        # Returned connections go to waiting checkouts in the order they came (handoff.py).
        poolclass=HandOffPool,
        # The most recently used connection first: sequential traffic stays on a warm
        # connection (and server process), and idle ones age out under pool_recycle.
        pool_use_lifo=True,
        connect_args={
            "server_settings": {
                "application_name": "wren",
                "timezone": "UTC",
                **options.server_settings,
            },
            "timeout": settings.pool_timeout,
            **options.connect_args,
        },
    )


def replica_name(engine: AsyncEngine) -> str:
    """How logs and counters name a replica: host:port/database, no credentials."""
    url = engine.url
    return f"{url.host}:{url.port or 5432}/{url.database}"


class _Compiled(NamedTuple):
    """A read statement as asyncpg takes it."""

    sql: str
    # The parameters in $n order, each with SQLAlchemy's conversion for its type, if any.
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]


# What a read fails with when the connection under it may have gone (is_closed says).
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError)


class _ConnectionLost(Exception):
    """The pooled connection a read ran on turned out to be closed (it is invalidated)."""


class ReplicaFailed(Exception):
    """A read on a replica failed; the caller runs it on the primary."""


class Database:
    """Read access for batch functions: each call checks out its own pooled connection.

    Reads go through the pool of the SQLAlchemy engine but run on its asyncpg connection
    directly: a statement is compiled once to PostgreSQL's positional form, and each call
    is one prepared-statement execution whose rows are asyncpg records. Going through
    SQLAlchemy's execution layer cost about 1 ms of CPU more per 400 rows (its cursor
    adaptation and Row objects), the largest single cost of a big page. A read's
    connection stays checked out for the next read while it is busy enough (kept.py):
    most reads then take one without a greenlet or a pool call. Writes keep the
    engine's transactions (`transaction`). Behind a transaction pooler (`pooler`), reads
    run unnamed statements described once per connection (see described.py).

    With `replicas` (name, engine), `fetch_replica` reads from one of them; which one,
    and when, is decided per request in routing.py, from the checks of replicas.py.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        pooler: Pooler = Pooler.NONE,
        replicas: Sequence[tuple[str, AsyncEngine]] = (),
        max_lag: float = 5.0,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.engine = engine
        # Reports every statement, checkout and loader batch; None when nothing observes.
        self.telemetry = telemetry if telemetry is not None and telemetry.observing else None
        self.pending = 0  # reads waiting for a pooled connection (counted when observed)
        # The pool wait histogram's observations (with metrics only): one per read.
        metrics = None if self.telemetry is None else self.telemetry.metrics
        self._waits = None if metrics is None else metrics.pool_wait
        # With metrics, each operation's statements are counted on its reads (inflight.py).
        self._counted = metrics is not None
        self.routing = RoutingCounters()
        self.replicas = (
            ReplicaSet(
                [Replica(name, replica) for name, replica in replicas],
                max_lag=max_lag,
                primary_position=self._primary_position,
                replica_position=self._replica_position,
            )
            if replicas
            else None
        )
        # Set by the app when replicas are configured (cache/marks.py).
        self.marks: WriteMarks | None = None
        # How a read runs on its connection: a prepared statement kept per connection, or
        # behind a transaction pooler an unnamed one described once per connection.
        self._statements: PreparedStatements | DescribedStatements = (
            DescribedStatements() if pooler is Pooler.TRANSACTION else PreparedStatements()
        )
        # Per engine (the primary's and each replica's), its connections kept between reads.
        self._kept = KeptConnections(engine.sync_engine)
        self._kept_of: dict[AsyncEngine, KeptConnections] = {engine: self._kept}
        for _, replica in replicas:
            self._kept_of[replica] = KeptConnections(replica.sync_engine)
        self._compiled: dict[Executable, _Compiled] = {}
        # What a read can fail with: the driver's errors, SQLAlchemy's adaptation of them
        # (a pool checkout raises those), and a connection found closed.
        self._read_errors: tuple[type[BaseException], ...] = (
            *UNAVAILABLE,
            asyncpg.PostgresError,
            engine.dialect.loaded_dbapi.Error,
            _ConnectionLost,
        )
        self._watchers: list[Watcher] = []
        self.outage = Outage()

    def _compile(self, statement: Executable) -> _Compiled:
        """The statement's SQL for asyncpg ($1, $2, ...) and how to build its arguments."""
        found = self._compiled.get(statement)
        if found is None:
            compiled = statement.compile(dialect=self.engine.dialect)  # type: ignore[attr-defined]
            if any(bind.value is not None for bind in compiled.binds.values()):
                raise TypeError(f"a read takes its values as parameters: {compiled.string}")
            processors = bind_processors(compiled)  # SQLAlchemy's type conversions, e.g. ARRAY
            if len(self._compiled) >= _MAX_COMPILED:  # a caller building statements per call
                self._compiled.clear()
            found = _Compiled(
                compiled.string,
                tuple((name, processors.get(name)) for name in positional_names(compiled)),
            )
            self._compiled[statement] = found
        return found

    @contextmanager
    def watching(self, record: Watcher) -> Iterator[None]:
        """Call `record(sql, parameters)` for every statement sent, reads and writes (tests)."""

        def on_execute(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
            record(statement, tuple(parameters or ()))

        self._watchers.append(record)
        event.listen(self.engine.sync_engine, "before_cursor_execute", on_execute)
        try:
            yield
        finally:
            event.remove(self.engine.sync_engine, "before_cursor_execute", on_execute)
            self._watchers.remove(record)

    def _arguments(
        self, statement: Executable, params: Mapping[str, Any] | None
    ) -> tuple[str, list[Any]]:
        sql, binds = self._compile(statement)
        values = params or {}
        args = [
            values[name] if convert is None else convert(values[name]) for name, convert in binds
        ]
        return sql, args

    async def fetch(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run one read statement on its own connection and return every row."""
        sql, args = self._arguments(statement, params)
        if self.replicas is not None:
            self.routing.primary_reads += 1
        try:
            try:
                rows = await self._fetch(sql, args)
            except _ConnectionLost:
                # A pooled connection the server had closed (restart, idle timeout): it is
                # invalidated, so one retry runs on a fresh connection. This stands in for
                # pool_pre_ping, which costs a round trip on every checkout.
                rows = await self._fetch(sql, args)
        except self._read_errors as error:
            if isinstance(error, _ConnectionLost) or unavailable(error):
                self.outage.failed(error)
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from error
            # PostgreSQL text cannot hold U+0000: such an argument matches nothing, and
            # comparing with it fails the statement. A client mistake, not a server failure.
            if _sqlstate(error) == UNTRANSLATABLE_CHARACTER:
                raise BadUserInput("Strings may not contain the NUL character (U+0000).") from error
            raise
        if self.outage.active:
            self.outage.succeeded()
        return rows

    # The primary is what fetch reads: the same call under the name routed reads use for
    # reads that must see every commit (db/routing.py).
    fetch_primary = fetch

    async def fetch_replica(
        self, replica: Replica, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run one read on a replica; ReplicaFailed (the caller reads the primary) if it fails."""
        sql, args = self._arguments(statement, params)
        try:
            try:
                rows = await self._fetch(sql, args, replica.engine)
            except _ConnectionLost:
                rows = await self._fetch(sql, args, replica.engine)
        except Exception as error:
            down = isinstance(error, _ConnectionLost) or unavailable(error)
            assert self.replicas is not None
            self.replicas.failed(replica, error, down=down)
            self.routing.fallbacks += 1
            raise ReplicaFailed from error
        replica.reads += 1
        self.routing.replica_reads += 1
        return rows

    async def _fetch(
        self, sql: str, args: list[Any], engine: AsyncEngine | None = None
    ) -> list[Row]:
        kept = self._kept if engine is None else self._kept_of[engine]
        telemetry = self.telemetry
        # The operation's reads (its deadline cancels their tasks; with metrics they count
        # its statements and their time).
        reads = inflight.tracked()
        task = None if reads is None else current_task()
        # A request's Record (with traces or the access line; metrics alone make none
        # current) counts its statements; traced by `Telemetry.statement` when its span
        # records, else counted and timed below (no coroutine around the read). With none
        # and no metrics (traces only, the request sampled out) the read is as unobserved.
        record = None
        if telemetry is not None and telemetry.records:
            record = CURRENT.get()
        if record is None and not self._counted:
            if task is None:
                return await self._read(sql, args, kept)
            tasks = reads.tasks  # type: ignore[union-attr]
            tasks.add(task)
            try:
                return await self._read(sql, args, kept)
            finally:
                tasks.discard(task)
        assert telemetry is not None  # (a Record or metrics come with it)
        if record is not None and record.recording:
            read = telemetry.statement(sql, self._read, sql, args, kept)
            record = None
        else:
            read = self._read(sql, args, kept)
        counted = reads if self._counted else None
        timed = record is not None or counted is not None
        started = time.perf_counter() if timed else 0.0
        try:
            if task is None:
                return await read
            tasks = reads.tasks  # type: ignore[union-attr]
            tasks.add(task)
            try:
                return await read
            finally:
                tasks.discard(task)
        finally:
            if timed:
                seconds = time.perf_counter() - started
                if counted is not None:
                    counted.statements += 1
                    counted.seconds += seconds
                if record is not None:
                    record.statements += 1
                    record.db_seconds += seconds

    def _observed_checkout(self, telemetry: Telemetry, pool: Pool) -> PoolProxiedConnection:
        """A pooled connection, its wait measured and counted while it lasts."""
        self.pending += 1
        started = time.perf_counter()
        try:
            fairy = pool.connect()
        except sa_exc.TimeoutError:
            telemetry.checkout_timed_out()
            raise
        finally:
            self.pending -= 1
        telemetry.checkout_waited(time.perf_counter() - started)
        return fairy

    def _checkout(self, pool: Pool) -> PoolProxiedConnection:
        """A connection checked out of `pool` (in a greenlet: SQLAlchemy's pool awaits
        through them). Its settings (size, overflow, timeout, recycling, pings) apply."""
        telemetry = self.telemetry
        if telemetry is None or telemetry.metrics is None:  # (waits are a metric only)
            return pool.connect()
        return self._observed_checkout(telemetry, pool)

    async def _read(
        self, sql: str, args: list[Any], kept: KeptConnections, watched: bool = True
    ) -> list[Row]:
        """Run the read on a kept connection, or on one checked out of the pool, and keep
        the connection for the next read (kept.py).

        Taking a kept connection is plain asyncio: no greenlet, no pool call. Nothing here
        opens a transaction, so a connection needs no reset between reads.
        """
        fairy = kept.take()
        if fairy is None:
            fairy = await greenlet_spawn(self._checkout, kept.pool)
        elif self._waits is not None:
            self._waits.at_once += 1  # obtained at once: one wait (of 0 s) per read
        driver = fairy.driver_connection
        assert driver is not None
        try:
            for watcher in self._watchers if watched else ():
                watcher(sql, args)
            rows: list[Row] = await self._statements.fetch(driver, sql, args)
        except BaseException as error:
            # Back to the pool, not kept: after a failure (or a cancellation) the pool's
            # reset and checks see the connection before any other read does.
            if isinstance(error, _DRIVER_ERRORS) and driver.is_closed():
                await kept.invalidate(fairy, error)
                raise _ConnectionLost from error
            kept.release(fairy)
            raise
        if not kept.give(fairy):  # someone waits for the full pool: it gets this one
            await kept.hand_over(fairy)
        return rows

    def pool_counts(self) -> tuple[int, int]:
        """The primary pool's connections (idle, used); one kept between reads is idle."""
        pool = cast("QueuePool", self.engine.sync_engine.pool)
        idle = self._kept.idle
        return pool.checkedin() + idle, pool.checkedout() - idle

    async def aclose(self) -> None:
        """Check the connections kept between reads back in (before the engines' dispose)."""
        for kept in self._kept_of.values():
            await kept.aclose()

    async def _position(self, engine: AsyncEngine, sql: str) -> int | None:
        """One WAL position (a replica check, not shown to watchers), on `engine`'s pool."""
        kept = self._kept_of[engine]
        try:
            rows = await self._read(sql, [], kept, False)
        except _ConnectionLost:  # a pooled connection the server closed (a restart): again
            rows = await self._read(sql, [], kept, False)
        value = rows[0][0]
        return None if value is None else int(value)

    async def _primary_position(self) -> int:
        position = await self._position(self.engine, WRITTEN_POSITION)
        assert position is not None
        return position

    async def _replica_position(self, replica: Replica) -> int | None:
        return await self._position(replica.engine, REPLAYED_POSITION)

    @asynccontextmanager
    async def transaction(
        self, *, positions: list[int] | None = None
    ) -> AsyncIterator[AsyncConnection]:
        """One read-write transaction: committed when the block ends, rolled back if it raises.

        With `positions`, the WAL position after the commit is appended to it (replicas
        that have replayed it hold the write).
        """
        kept = self._kept
        if kept.idle and cast("QueuePool", self.engine.sync_engine.pool).checkedin() == 0:
            await kept.hand_back()  # the write takes the connection a read left idle
        try:
            async with self.engine.connect() as conn:
                async with conn.begin():
                    yield conn
                if positions is not None:
                    positions.append(await commit_position(conn))
        except sa_exc.IntegrityError as error:
            domain = integrity.meaning(error)
            if domain is None:
                raise
            raise domain from error
        except (*UNAVAILABLE, sa_exc.DBAPIError) as error:
            if unavailable(error):
                self.outage.failed(error)
                raise ServiceUnavailable("The database is unavailable; retry shortly.") from error
            raise
        if self.outage.active:
            self.outage.succeeded()
