"""The log-in throttle's arithmetic, and its per-process counting (used without Redis)."""

from __future__ import annotations

from wren.accounts.throttle import Policy, _Local

POLICY = Policy(per_handle=3, per_client=10, backoff=1.0, backoff_max=8.0, window=60.0)


def test_the_lock_doubles_past_the_threshold_up_to_the_maximum() -> None:
    locks = [POLICY.lock(n, 3) for n in range(1, 9)]
    assert locks == [0, 0, 1, 2, 4, 8, 8, 8]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_per_process_counts_lock_then_forget() -> None:
    clock = Clock()
    local = _Local(POLICY, clock)
    keys = [("h:alice", 3), ("c:10.0.0.1", 10)]
    assert [local.failed(keys) for _ in range(3)] == [0, 0, 1]
    assert local.retry_after(keys) == 1
    clock.now += 1
    assert local.retry_after(keys) == 0
    assert local.failed(keys) == 2
    clock.now += 2 + 60  # past the lock and the window: forgotten
    assert local.retry_after(keys) == 0
    assert local.failed(keys) == 0


def test_a_reset_forgets_the_handle_only() -> None:
    local = _Local(POLICY, Clock())
    client = [("c:10.0.0.1", 2)]
    for handle in ("h:a", "h:b"):
        local.failed([(handle, 3), *client])
    local.reset("h:a")
    assert local.retry_after(client) == 1
