"""Streaming replicas: how far behind each one is, and which one a read may use.

Lag is measured against the primary, not with the replica's own clock: each check takes
the primary's WAL position P at time t (`pg_current_wal_lsn()`, asked for after t), then
every replica's replayed position R (`pg_last_wal_replay_lsn()`). A replica whose R has
reached the P of a check held, at that moment, everything committed before that
check's t: it is *complete as of* t, and its lag at any later moment is at most
`now - t`. The bound needs no clock on the replica, holds when the replica's
connection to the primary is down (its R stops, the bound grows), and grows by
itself between checks, so a stale check can never make a lagging replica look fresh.
It overstates the lag by at most the time between checks.

A replica is read from while it answered its last check and its lag bound is within
WREN_REPLICA_MAX_LAG. Checks run in the background, at most every `interval` seconds
and only when reads ask for replicas (an idle process sends nothing); a read never
waits for one. A server that answers as a primary (promoted, or misconfigured) is not
a replica of this primary and is not read from.

The positions are also what read-your-writes compares (routing.py): the primary's
position after a commit (`commit_position`) against a replica's replayed one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# WAL positions as integers (bytes since 0/0), for replica routing.
WRITTEN_POSITION = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint"
# After a commit: the insert position is never before the commit record's end, whatever
# synchronous_commit says (the write position may be, with synchronous_commit=off).
INSERT_POSITION = "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::bigint"
# NULL on a server that is not in recovery: not a replica.
REPLAYED_POSITION = (
    "SELECT CASE WHEN pg_is_in_recovery()"
    " THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END"
)
# A commit whose position could not be read: no replica ever counts as having it.
MAX_POSITION = 2**63 - 1


# How long one check may wait for a server before counting it as down.
CHECK_TIMEOUT = 1.0


def check_interval(max_lag: float) -> float:
    """Seconds between checks: a quarter of the lag allowed, within 20 ms .. 250 ms."""
    return max(0.02, min(0.25, max_lag / 4))


async def commit_position(conn: AsyncConnection) -> int:
    """Where the primary's WAL ends after `conn`'s commit (an upper bound of the commit
    record's end; MAX_POSITION if it cannot be read: then only the primary has it)."""
    try:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        value = await driver.fetchval(INSERT_POSITION)
    except Exception as error:  # the write is committed: never fail it for this
        log.warning("commit position unavailable (%s): the writer reads the primary", error)
        return MAX_POSITION
    return int(value)


@dataclass(eq=False)
class Replica:
    """One replica's engine and what the last checks said about it."""

    name: str
    engine: AsyncEngine
    up: bool = False
    # Replayed WAL position at the last check that reached it.
    replayed: int = 0
    # Monotonic time as of which it held every commit (None: never seen complete).
    complete_as_of: float | None = None
    reads: int = 0
    failures: int = 0

    def lag(self, now: float) -> float | None:
        """Seconds it may be behind the primary at most (None: unknown)."""
        return None if self.complete_as_of is None else max(0.0, now - self.complete_as_of)


# The queries of a check, run by the Database: the primary's position; a replica's
# (None: it is not in recovery, so not a replica).
PrimaryPosition = Callable[[], Awaitable[int]]
ReplicaPosition = Callable[[Replica], Awaitable[int | None]]


@dataclass
class RoutingCounters:
    """Where reads went, and why the primary (simple counters, per process)."""

    replica_reads: int = 0
    primary_reads: int = 0
    # Replica reads that failed and ran on the primary instead.
    fallbacks: int = 0
    # Why a request's reads went to the primary although replicas are configured.
    pinned: int = 0  # a mutation, or after a write in the request
    behind: int = 0  # no usable replica had replayed the viewer's or event's commit
    unusable: int = 0  # no replica up and within the lag
    unsure: int = 0  # the viewer's mark could not be read (Redis)

    @property
    def replica_share(self) -> float:
        """Share of read statements the replicas served."""
        total = self.replica_reads + self.primary_reads
        return self.replica_reads / total if total else 0.0


class ReplicaSet:
    """The replicas of one process, their checks, and the choice of one for a read."""

    def __init__(
        self,
        replicas: Sequence[Replica],
        *,
        max_lag: float,
        primary_position: PrimaryPosition,
        replica_position: ReplicaPosition,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.replicas = list(replicas)
        self.max_lag = max_lag
        self.interval = check_interval(max_lag)
        self._primary_position = primary_position
        self._replica_position = replica_position
        self._clock = clock
        # (time, primary position) of recent checks, oldest first.
        self._samples: deque[tuple[float, int]] = deque()
        self._checked_at: float | None = None
        self._checking: asyncio.Task[None] | None = None
        self._next = 0
        self.checks = 0

    def status(self) -> list[dict[str, object]]:
        """Each replica as the last check saw it: up, lag bound (s), replayed, reads, failures."""
        now = self._clock()
        return [
            {
                "name": replica.name,
                "up": replica.up,
                "lag": replica.lag(now),
                "replayed": replica.replayed,
                "reads": replica.reads,
                "failures": replica.failures,
            }
            for replica in self.replicas
        ]

    def usable(self, at_least: int = 0) -> Replica | None:
        """A replica to read from now, having replayed `at_least`, or None (the primary).

        Replicas are taken in turn; checks are started here when due.
        """
        now = self._clock()
        self._check_soon(now)
        count = len(self.replicas)
        for offset in range(count):
            replica = self.replicas[(self._next + offset) % count]
            if self._fresh(replica, now) and replica.replayed >= at_least:
                self._next = (self._next + offset + 1) % count
                return replica
        return None

    def any_usable(self) -> bool:
        """Whether some replica is up and within the lag (whatever it replayed)."""
        now = self._clock()
        self._check_soon(now)
        return any(self._fresh(replica, now) for replica in self.replicas)

    def _fresh(self, replica: Replica, now: float) -> bool:
        lag = replica.lag(now)
        return replica.up and lag is not None and lag <= self.max_lag

    def failed(self, replica: Replica, error: BaseException, *, down: bool) -> None:
        """A read on `replica` failed; when the server seems gone, skip it until a check."""
        replica.failures += 1
        if down and replica.up:
            replica.up = False
            log.warning("replica %s failed a read (%s): reading the primary", replica.name, error)

    def _check_soon(self, now: float) -> None:
        if self._checking is not None and not self._checking.done():
            return
        if self._checked_at is not None and now - self._checked_at < self.interval:
            return
        self._checked_at = now
        self._checking = asyncio.get_running_loop().create_task(self.check())

    async def check(self) -> None:
        """Measure every replica against the primary once (never raises)."""
        started = self._clock()
        self._checked_at = started
        self.checks += 1
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                position = await self._primary_position()
        except Exception as error:  # the primary is down: replicas cannot be measured
            log.debug("replica check: primary position unavailable: %s", error)
            return
        self._samples.append((started, position))
        horizon = started - 2 * self.max_lag - CHECK_TIMEOUT
        while len(self._samples) > 1 and self._samples[0][0] < horizon:
            self._samples.popleft()
        await asyncio.gather(*(self._check(replica) for replica in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                replayed = await self._replica_position(replica)
        except Exception as error:
            if replica.up:
                log.warning(
                    "replica %s is unavailable (%s): reading the primary", replica.name, error
                )
            replica.up = False
            return
        if replayed is None:
            if replica.up or replica.complete_as_of is None:
                log.warning("%s is not a replica (not in recovery): not read from", replica.name)
            replica.up = False
            replica.complete_as_of = None
            return
        if not replica.up:
            log.info("replica %s answers: reading from it again", replica.name)
        replica.up = True
        replica.replayed = replayed
        # The newest check whose primary position it has reached.
        for at, position in reversed(self._samples):
            if position <= replayed:
                if replica.complete_as_of is None or at > replica.complete_as_of:
                    replica.complete_as_of = at
                break

    async def aclose(self) -> None:
        """Stop a check in flight (at shutdown)."""
        if self._checking is not None:
            self._checking.cancel()
            await asyncio.gather(self._checking, return_exceptions=True)
