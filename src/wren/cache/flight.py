"""Single-flight within the process: one computation per entry stamp, shared by all waiters."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any


class Flights:
    """Computations in progress in this process, by (kind, user id, stamp).

    The stamp is part of the key, so a request that read a newer stamp (after a write)
    never joins a computation that started from an older snapshot.
    """

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    def join(self, key: Hashable) -> asyncio.Future[Any] | None:
        """The computation already running for `key`, if any."""
        return self._running.get(key)

    def lead(self, key: Hashable) -> None:
        """Announce that the caller computes `key`; others will join it."""
        self._running[key] = asyncio.get_running_loop().create_future()

    def finish(self, key: Hashable, value: Any) -> None:
        """Hand the value (None: not computed, compute it yourself) to every waiter."""
        future = self._running.pop(key, None)
        if future is not None and not future.done():
            future.set_result(value)

    def __len__(self) -> int:
        return len(self._running)
