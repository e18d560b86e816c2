"""Statements in flight for one request, so that a deadline can cancel them all.

DataLoaders run their batches in tasks of their own, outside the request's task: cancelling
the request does not reach them. Each read registers its task here (a context variable,
which those tasks inherit from the resolver that scheduled them), and the request cancels
what is left when its deadline passes; asyncpg then cancels the query on the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_tasks: ContextVar[set[asyncio.Task[Any]] | None] = ContextVar("wren_inflight", default=None)


@contextmanager
def tracking() -> Iterator[set[asyncio.Task[Any]]]:
    """Collect the tasks running reads for the code inside the block."""
    tasks: set[asyncio.Task[Any]] = set()
    token = _tasks.set(tasks)
    try:
        yield tasks
    finally:
        _tasks.reset(token)


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
