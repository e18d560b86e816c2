"""Resolver values as futures: a callback on a loader's future instead of a coroutine."""

from __future__ import annotations

import asyncio
from asyncio import isfuture
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def then(source: Awaitable[T], transform: Callable[[T], R]) -> asyncio.Future[R]:
    """A future of `transform(result of source)`: a resolver can return it without a coroutine.

    `source` is a loader's future; chaining a callback costs far less than the coroutine
    and task an `async def` resolver needs per item.
    """
    future = source if isfuture(source) else asyncio.ensure_future(source)
    out: asyncio.Future[R] = future.get_loop().create_future()

    def done(finished: asyncio.Future[T]) -> None:
        if out.done():
            return
        if finished.cancelled():
            out.cancel()
            return
        error = finished.exception()
        if error is not None:
            out.set_exception(error)
            return
        try:
            out.set_result(transform(finished.result()))
        except Exception as failure:  # delivered to whoever awaits `out`
            out.set_exception(failure)

    future.add_done_callback(done)
    return out
