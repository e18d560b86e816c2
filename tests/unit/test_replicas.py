"""Which replica a read may use: lag bounds from the checks, positions, servers down."""

from __future__ import annotations

import pytest

from wren.cache.marks import encode_lsn, format_lsn
from wren.db.replicas import Replica, ReplicaSet, check_interval
from wren.events.messages import Event
from wren.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Servers:
    """What the checks read: the primary's position, each replica's (or a failure)."""

    def __init__(self) -> None:
        self.primary = 1000
        self.replayed: dict[str, int | Exception | None] = {}

    async def primary_position(self) -> int:
        return self.primary

    async def replica_position(self, replica: Replica) -> int | None:
        found = self.replayed[replica.name]
        if isinstance(found, Exception):
            raise found
        return found


def replica_set(names: list[str], max_lag: float = 1.0) -> tuple[ReplicaSet, Servers, Clock]:
    servers = Servers()
    clock = Clock()
    replicas = [Replica(name, engine=None) for name in names]  # type: ignore[arg-type]
    for name in names:
        servers.replayed[name] = servers.primary
    chosen = ReplicaSet(
        replicas,
        max_lag=max_lag,
        primary_position=servers.primary_position,
        replica_position=servers.replica_position,
        clock=clock,
    )
    return chosen, servers, clock


async def test_a_caught_up_replica_is_used_and_replicas_take_turns() -> None:
    replicas, _, _ = replica_set(["a", "b"])
    await replicas.check()
    picked = [replicas.usable() for _ in range(4)]
    assert [r.name for r in picked if r is not None] == ["a", "b", "a", "b"]


async def test_nothing_is_used_before_a_check() -> None:
    replicas, _, _ = replica_set(["a"])
    assert replicas.usable() is None


async def test_the_lag_bound_grows_between_checks() -> None:
    replicas, _, clock = replica_set(["a"], max_lag=1.0)
    await replicas.check()
    clock.now += 0.9
    assert replicas.usable() is not None
    # No check since (the one started above has not run yet): it may be 1.1 s behind.
    clock.now += 0.2
    assert replicas.usable() is None
    # A check that finds it caught up makes it usable again.
    await replicas.check()
    assert replicas.usable() is not None


async def test_a_replica_that_stops_replaying_ages_out() -> None:
    replicas, servers, clock = replica_set(["a"], max_lag=1.0)
    await replicas.check()
    complete = clock.now
    for _ in range(5):
        clock.now += 0.3
        servers.primary += 100  # writes go on; the replica stays at 1000
        await replicas.check()
    [replica] = replicas.replicas
    assert replica.lag(clock.now) == pytest.approx(clock.now - complete)
    assert replicas.usable() is None


async def test_the_lag_is_measured_from_the_newest_check_it_has_reached() -> None:
    replicas, servers, clock = replica_set(["a"], max_lag=10.0)
    await replicas.check()  # t=100, primary 1000
    clock.now = 101
    servers.primary = 2000
    await replicas.check()  # t=101, primary 2000; replica still 1000
    clock.now = 102
    servers.primary = 3000
    servers.replayed["a"] = 2500
    await replicas.check()  # has reached the t=101 position, not the t=102 one
    [replica] = replicas.replicas
    assert replica.lag(clock.now) == pytest.approx(1.0)


async def test_a_position_not_yet_replayed_is_not_served() -> None:
    replicas, servers, _ = replica_set(["a", "b"])
    servers.replayed["a"] = 900
    servers.replayed["b"] = 1000
    servers.primary = 900
    await replicas.check()
    found = {replicas.usable(at_least=950) for _ in range(3)}
    assert {r.name for r in found if r is not None} == {"b"}
    assert replicas.usable(at_least=1001) is None


async def test_a_server_down_or_not_in_recovery_is_skipped() -> None:
    replicas, servers, _ = replica_set(["down", "primary", "ok"])
    servers.replayed["down"] = ConnectionRefusedError("no")
    servers.replayed["primary"] = None
    await replicas.check()
    assert {replicas.usable().name for _ in range(4)} == {"ok"}  # type: ignore[union-attr]


async def test_a_failed_read_skips_the_replica_until_a_check() -> None:
    replicas, _, _ = replica_set(["a"])
    await replicas.check()
    [replica] = replicas.replicas
    replicas.failed(replica, ConnectionResetError(), down=True)
    assert replicas.usable() is None
    await replicas.check()
    assert replicas.usable() is replica


async def test_the_primary_down_leaves_replicas_as_they_were() -> None:
    replicas, _, clock = replica_set(["a"], max_lag=1.0)
    await replicas.check()

    async def down() -> int:
        raise OSError("primary down")

    replicas._primary_position = down
    clock.now += 0.5
    await replicas.check()
    assert replicas.usable() is not None


def test_check_interval_follows_the_lag() -> None:
    assert check_interval(5.0) == 0.25
    assert check_interval(0.2) == pytest.approx(0.05)
    assert check_interval(0.01) == 0.02


def test_positions_keep_their_order_as_text() -> None:
    positions = [0, 1, 0xFF, 0x1_0000_0000, 0x16_B374_D848, 2**63 - 1]
    encoded = [encode_lsn(p) for p in positions]
    assert encoded == sorted(encoded)
    assert format_lsn(0x16_B374_D848) == "16/B374D848"


def test_events_carry_the_commit_position() -> None:
    event = Event(7, 3, 0x16_B374_D848)
    assert Event.decode(event.encode()) == event
    assert Event.decode(b'{"id": 7, "authorId": 3}') == Event(7, 3, 0)
    assert Event(7, 3).encode() == b'{"id":7,"authorId":3}'
    assert Event.decode(b'{"id": 7, "authorId": 3, "lsn": -1}') is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        (
            "postgresql://r1:5432/wren, postgres://r2/wren",
            ["postgresql+asyncpg://r1:5432/wren", "postgresql+asyncpg://r2/wren"],
        ),
    ],
)
def test_replica_urls_are_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[str]
) -> None:
    monkeypatch.setenv("WREN_DATABASE_URL", "postgresql://primary/wren")
    monkeypatch.setenv("WREN_DATABASE_REPLICA_URLS", raw)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.replica_urls == expected


def test_replicas_need_a_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WREN_DATABASE_URL", raising=False)
    monkeypatch.setenv("WREN_DATABASE_REPLICA_URLS", "postgresql://r1/wren")
    with pytest.raises(ValueError, match="needs WREN_DATABASE_URL"):
        Settings(_env_file=None)  # type: ignore[call-arg]
