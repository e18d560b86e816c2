"""Statements in flight for one request, so that a deadline can cancel them all.

DataLoaders run their batches in tasks of their own, outside the request's task: cancelling
the request does not reach them. Each read registers its task here (a context variable,
which those tasks inherit from the resolver that scheduled them), and the request cancels
what is left when its deadline passes; asyncpg then cancels the query on the server.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

_tasks: ContextVar[set[asyncio.Task[Any]] | None] = ContextVar("wren_inflight", default=None)


class tracking:  # noqa: N801 - used as the function it was: `with inflight.tracking():`
    """Collect the tasks running reads for the code inside the block.

    Context managers written as classes, not with @contextmanager: a generator, its
    wrapper and their frames on every request and every read cost more than the sets
    they manage.
    """

    __slots__ = ("_token", "tasks")

    def __enter__(self) -> set[asyncio.Task[Any]]:
        self.tasks: set[asyncio.Task[Any]] = set()
        self._token = _tasks.set(self.tasks)
        return self.tasks

    def __exit__(self, *_: object) -> None:
        _tasks.reset(self._token)


def tracked() -> set[asyncio.Task[Any]] | None:
    """The set a read adds its task to while it runs (None: no request tracks reads).

    Database._fetch adds and discards its task itself, around the read: a context
    manager built on a generator cost more than the rest of the registration.
    """
    return _tasks.get()


def cancel(tasks: set[asyncio.Task[Any]]) -> None:
    """Cancel every read still running for a request."""
    for task in tuple(tasks):
        task.cancel()
