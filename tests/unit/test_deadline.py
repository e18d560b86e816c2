"""Deadline: asyncio.timeout's behaviour, for many tasks on one timer."""

from __future__ import annotations

import asyncio

import pytest

from wren.pipeline.deadline import Deadline


async def test_a_scope_that_outlasts_its_time_raises_timeout_error() -> None:
    deadline = Deadline(0.01)
    with pytest.raises(TimeoutError), deadline():
        await asyncio.sleep(1)


async def test_a_scope_left_in_time_is_not_cancelled_afterwards() -> None:
    deadline = Deadline(0.05)
    with deadline():
        await asyncio.sleep(0)
    # The timer armed for that scope fires meanwhile, and cancels nothing.
    await asyncio.sleep(0.1)
    assert deadline._open == {}


async def test_each_of_many_scopes_expires_and_only_those() -> None:
    deadline = Deadline(0.05)

    async def hold(seconds: float) -> str:
        try:
            with deadline():
                await asyncio.sleep(seconds)
        except TimeoutError:
            return "timed out"
        return "done"

    tasks = []
    for seconds in (1, 0, 1, 0, 1):
        tasks.append(asyncio.create_task(hold(seconds)))
        await asyncio.sleep(0.005)
    assert await asyncio.gather(*tasks) == ["timed out", "done", "timed out", "done", "timed out"]
    assert deadline._open == {}


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadline = Deadline(10)

    async def hold() -> None:
        with deadline():
            await asyncio.sleep(1)

    task = asyncio.create_task(hold())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancelled_from_elsewhere_as_the_time_is_up_stays_a_cancellation() -> None:
    deadline = Deadline(10)
    entered = asyncio.Event()

    async def hold() -> None:
        with deadline():
            entered.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(hold())
    await entered.wait()
    task.cancel()
    for scope in deadline._open:
        deadline._open[scope] = 0.0  # its time is up too
    deadline._expire()
    with pytest.raises(asyncio.CancelledError):
        await task
