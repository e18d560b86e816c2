"""Which server a request reads from: a replica when that cannot show it the past.

One RoutedDatabase per request (or per subscription event) over the process's Database.
Its reads go to a replica unless one of these sends them to the primary:

- the operation is a mutation (`use_primary`, set by the pipeline): what a write checks,
  and what its answer shows, is read where it is written; a transaction does the same
  for the rest of the request, batched operations included;
- the viewer wrote lately and no usable replica has replayed that commit yet: the
  viewer's mark (cache/marks.py, shared by every process through Redis) says how far a
  replica must have replayed; with Redis failing, logged-in viewers read the primary;
- an event is loaded (`renewed(at_least=...)`): the replica must have replayed the
  commit the event announces;
- no replica is up and within WREN_REPLICA_MAX_LAG (replicas.py).

The choice is made once, at the request's first read, and kept for its other reads
(one consistent server per request). A replica read that fails runs again on the
primary, and the request's later reads go there too: a replica going away costs a
retry, never a failed request.

Reads whose result outlives the request must see every commit and use `fetch_primary`:
cache computations (a value computed from a lagging replica would be stored under the
generation a write just made, and served stale until it expires: cache/loader.py) and
what a write's invalidation reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from wren.db.engine import Database, ReplicaFailed, Row

if TYPE_CHECKING:
    from sqlalchemy import Executable
    from sqlalchemy.ext.asyncio import AsyncConnection

    from wren.db.replicas import Replica


class RoutedDatabase:
    """The process's Database as one request uses it: reads routed, writes on the primary."""

    def __init__(
        self, db: Database, viewer_id: int | None, *, at_least: int = 0, primary: bool = False
    ) -> None:
        self.database = db
        self.viewer_id = viewer_id
        self._at_least = at_least
        self._primary = primary or db.replicas is None
        # The request's replica once chosen (None: the primary), or the choice under way.
        self._route: asyncio.Future[Replica | None] | None = None
        # WAL position after this request's last commit (0: it wrote nothing).
        self.last_commit_position = 0

    def use_primary(self) -> None:
        """Read the primary from now on in this request."""
        if not self._primary:
            self._primary = True
            self.database.routing.pinned += 1

    def renewed(self, *, at_least: int) -> RoutedDatabase:
        """A fresh choice for the same viewer, for reads that must see the commit at
        `at_least` (a subscription event's; 0, unknown: the primary); a view that wrote
        stays on the primary."""
        fresh = RoutedDatabase(
            self.database,
            self.viewer_id,
            at_least=max(at_least, self.last_commit_position),
            primary=at_least <= 0 or (self._primary and self.last_commit_position > 0),
        )
        fresh.last_commit_position = self.last_commit_position
        return fresh

    async def fetch(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run one read on the request's server (a replica when allowed) and return its rows."""
        if self._primary:
            return await self.database.fetch(statement, params)
        replica = await self._replica()
        if replica is None:
            return await self.database.fetch(statement, params)
        try:
            return await self.database.fetch_replica(replica, statement, params)
        except ReplicaFailed:
            self._primary = True
            return await self.database.fetch(statement, params)

    async def fetch_primary(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> list[Row]:
        """Run one read on the primary, whatever the request's route (see the module doc)."""
        return await self.database.fetch(statement, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A read-write transaction on the primary; after its commit, the viewer's mark."""
        self.use_primary()
        if self.database.replicas is None:
            async with self.database.transaction() as conn:
                yield conn
            return
        positions: list[int] = []
        async with self.database.transaction(positions=positions) as conn:
            yield conn
        self.last_commit_position = max(self.last_commit_position, *positions)
        if self.viewer_id is not None:
            await self.written_by(self.viewer_id)

    async def written_by(self, user_id: int) -> None:
        """Mark the request's last commit as `user_id`'s (signUp: the new user's)."""
        marks = self.database.marks
        if marks is not None and self.last_commit_position:
            await marks.record(user_id, self.last_commit_position)

    async def _replica(self) -> Replica | None:
        route = self._route
        if route is None:
            route = self._route = asyncio.get_running_loop().create_future()
            try:
                route.set_result(await self._choose())
            except BaseException:
                route.set_result(None)
                raise
        # Shielded: a cancelled reader must not cancel the choice other readers await.
        return await asyncio.shield(route)

    async def _choose(self) -> Replica | None:
        replicas = self.database.replicas
        routing = self.database.routing
        assert replicas is not None
        if not replicas.any_usable():
            routing.unusable += 1
            return None
        needed = self._at_least
        marks = self.database.marks
        if self.viewer_id is not None and marks is not None:
            mark = await marks.required(self.viewer_id)
            if mark is None:
                routing.unsure += 1
                return None
            needed = max(needed, mark)
        replica = replicas.usable(needed)
        if replica is None:
            routing.behind += 1
        return replica
