"""`asyncio.timeout(seconds)` for every request of a process, on one timer.

Each request reads its body within `WREN_BODY_TIMEOUT` and runs its operation within
`WREN_EXECUTION_TIMEOUT`. With `asyncio.timeout` each of those schedules and cancels a
timer of its own (under uvloop, a libuv timer): together about 5 % of the CPU of a
`{ __typename }` (bench/results/http-path.md). All the scopes of one `Deadline` have the
same duration, so they expire in the order they were entered: one timer, armed for the
oldest scope still open, is enough, and entering or leaving a scope is a dict operation.

Semantics are asyncio.timeout's: when the time is up the task is cancelled, and the
scope turns that cancellation into TimeoutError, unless the task was also cancelled from
elsewhere (then CancelledError goes on, as it must).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import TracebackType


class Deadline:
    """Scopes that each end with TimeoutError after `seconds` (`with deadline():`).

    Entering and leaving a scope awaits nothing: the scopes are plain context managers,
    not asynchronous ones (two coroutines less per scope).
    """

    __slots__ = ("_loop", "_open", "_timer", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        # Open scopes and when each expires, oldest first.
        self._open: dict[Scope, float] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> Scope:
        """A scope for the current task."""
        return Scope(self)

    def _enter(self, scope: Scope, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop:
            # A new event loop (tests run several): what the old one left is gone with it.
            self._open.clear()
            self._timer = None
            self._loop = loop
        when = loop.time() + self.seconds
        self._open[scope] = when
        if self._timer is None:
            self._timer = loop.call_at(when, self._expire)

    def _exit(self, scope: Scope) -> None:
        self._open.pop(scope, None)

    def _expire(self) -> None:
        """Cancel the tasks whose time is up; arm the timer for the next one."""
        self._timer = None
        loop = self._loop
        assert loop is not None
        now = loop.time()
        for scope, when in list(self._open.items()):
            if when > now:
                self._timer = loop.call_at(when, self._expire)
                return
            del self._open[scope]
            scope.expired = True
            scope.task.cancel()


class Scope:
    """One task's time within a Deadline."""

    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.expired = False

    def __enter__(self) -> Scope:
        # One lookup of the running loop (CPython 3.11's makes a getpid system call
        # each time; `current_task()` without its loop would make a second).
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None
        self.task = task
        self.cancelling = task.cancelling()
        self.deadline._enter(self, loop)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.deadline._exit(self)
        if (
            self.expired
            and exc_type is asyncio.CancelledError
            and self.task.uncancel() <= self.cancelling
        ):
            raise TimeoutError from exc
