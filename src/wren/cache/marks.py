"""Read-your-writes marks: the WAL position of each user's last commit, shared in Redis.

After a commit, the writing process stores the primary's WAL insert position under the
writer's key (``{p}wrote:{user_id}``, cache/keys.py); any process routing that user's
reads asks for it and reads from a replica only once the replica has replayed that far
(db/routing.py). A mark only ever rises (a Lua compare-and-set: two writes of one user
finishing on two processes in the other order keep the later position) and expires
after WREN_REPLICA_MAX_LAG + 2 s, when every replica Wren still reads from has replayed
it anyway (db/replicas.py: a replica further behind is not read).

Redis unreachable (timeout, circuit breaker): the mark may be missing wherever it was
to be read, so for the same lifetime this process sends every logged-in user's reads to
the primary (`required` returns None). Anonymous reads need no mark and keep the
replicas.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wren.cache.store import CacheStore

# KEYS[1] the mark; ARGV[1] the new position (16 hex digits: string order is numeric
# order); ARGV[2] its lifetime in ms. The stored position never goes down.
_RAISE = """
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""

# Past the lag bound, a replica still read from has replayed the commit: the mark can go.
MARGIN = 2.0


def encode_lsn(lsn: int) -> str:
    """A WAL position as stored: 16 hex digits, so that Lua's string order is numeric."""
    return f"{lsn:016x}"


def format_lsn(lsn: int) -> str:
    """A WAL position as PostgreSQL prints it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


class WriteMarks:
    """Recording and looking up users' last commit positions, through the cache's breaker."""

    def __init__(
        self, store: CacheStore, *, max_lag: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self.ttl = max_lag + MARGIN
        self._ttl_ms = int(self.ttl * 1000)
        self._raise = store.redis.register_script(_RAISE)
        self._clock = clock
        # Until then, logged-in users read from the primary: Redis failed us recently.
        self._unsure_until = 0.0
        self.failures = 0

    def _failed(self) -> None:
        self.failures += 1
        self._unsure_until = self._clock() + self.ttl

    @property
    def unsure(self) -> bool:
        """True while a recent Redis failure may have lost marks."""
        return self._clock() < self._unsure_until

    async def record(self, user_id: int, lsn: int) -> None:
        """Raise the user's mark to `lsn` (never fails: a failure makes this process unsure)."""
        key = self._store.keys.write_mark(user_id)

        async def run() -> object:
            return await self._raise(keys=[key], args=[encode_lsn(lsn), self._ttl_ms])

        if await self._store.guarded(run) is None:
            self._failed()

    async def required(self, user_id: int) -> int | None:
        """The position a replica must have replayed to serve this user (0: any), or None
        when it cannot be known (Redis failed now or lately): read the primary."""
        if self.unsure:
            return None
        key = self._store.keys.write_mark(user_id)

        async def run() -> tuple[bytes | str | None]:
            return (await self._store.redis.get(key),)

        found = await self._store.guarded(run)
        if found is None:
            self._failed()
            return None
        raw = found[0]
        return 0 if raw is None else int(raw, 16)  # bytes or str: int() takes both
