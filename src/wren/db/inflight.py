"""Statements in flight for one request, so that a deadline can cancel them all.

DataLoaders run their batches in tasks of their own, outside the request's task: cancelling
the request does not reach them. Each read registers its task here (a context variable,
which those tasks inherit from the resolver that scheduled them), and the request cancels
what is left when its deadline passes; asyncpg then cancels the query on the server.

The same object counts the operation's statements and their time when metrics are on
(Database._fetch, from the context variable it reads anyway): the operation's figures
need no context variable of their own.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import Any

_reads: ContextVar[tracking | None] = ContextVar("wren_inflight", default=None)


class tracking:  # noqa: N801 - used as the function it was: `with inflight.tracking():`
    """Collect the tasks running reads for the code inside the block (`tasks`), and count
    its statements (`statements`, `seconds`: what the operation spent in them).

    Context managers written as classes, not with @contextmanager: a generator, its
    wrapper and their frames on every request and every read cost more than the sets
    they manage.
    """

    __slots__ = ("_token", "seconds", "statements", "tasks")

    def __enter__(self) -> tracking:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.statements = 0
        self.seconds = 0.0
        self._token = _reads.set(self)
        return self

    def __exit__(self, *_: object) -> None:
        _reads.reset(self._token)


def tracked() -> tracking | None:
    """What a read adds its task to while it runs, and is counted in (None: no operation
    tracks reads).

    Database._fetch adds and discards its task itself, around the read: a context
    manager built on a generator cost more than the rest of the registration.
    """
    return _reads.get()


def cancel(reads: tracking) -> None:
    """Cancel every read still running for a request."""
    for task in tuple(reads.tasks):
        task.cancel()
