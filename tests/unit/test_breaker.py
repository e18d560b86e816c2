"""The circuit breaker's states, on a clock the test moves."""

from __future__ import annotations

import logging

import pytest

from wren.cache.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, failures: int = 2) -> CircuitBreaker:
    return CircuitBreaker(failures=failures, cooldown=5.0, clock=clock)


def test_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = breaker(clock)
    b.failure(TimeoutError())
    b.success()
    b.failure(TimeoutError())
    assert b.allow()
    b.failure(TimeoutError())
    assert b.is_open
    assert not b.allow()


def test_one_probe_after_the_cooldown_closes_it(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    b = breaker(clock, failures=1)
    with caplog.at_level(logging.WARNING):
        b.failure(ConnectionError("refused"))
    assert "Redis unavailable (ConnectionError: refused)" in caplog.text
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()
    assert not b.allow()  # only one probe at a time
    b.success()
    assert not b.is_open
    assert b.allow()


def test_a_failed_probe_reopens_it_for_a_full_cooldown() -> None:
    clock = Clock()
    b = breaker(clock, failures=3)
    for _ in range(3):
        b.failure(TimeoutError())
    clock.now += 5.0
    assert b.allow()
    b.failure(TimeoutError())
    assert not b.allow()
    clock.now += 4.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()
