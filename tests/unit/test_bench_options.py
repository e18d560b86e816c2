"""The benchmark's command line and what it selects: servers, operations, environments."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from bench.operations import OPERATIONS, PEER_OPS
from bench.options import parse_args
from bench.servers import server_specs
from bench.suite import operations_of, selected, soak_spec


def test_defaults_measure_every_operation_on_one_worker() -> None:
    options = parse_args([])
    assert options.ops == list(OPERATIONS)
    assert options.workers == [1]
    assert (options.duration, options.warmup, options.connections) == (15, 3, 32)
    assert options.report is None
    assert not options.no_restart
    assert [s.name for s in selected(options)] == ["wren"]


def test_every_flag() -> None:
    options = parse_args(
        shlex.split(
            "--ops Timeline,Nope,Feed --peers --only-peers --servers floor,wren --workers 1,2 "
            "--duration 5 --warmup 1 --connections 4 --cold-requests 3 --soak 300 --db d "
            "--users 50 --redis-url redis://127.0.0.1:1/0 --cache-pattern x:* --label l "
            "--no-restart --report r.json"
        )
    )
    assert options.ops == ["Timeline", "Feed"]  # unknown names are left out
    assert options.servers == ["floor", "wren"]
    assert options.workers == [1, 2]
    assert (options.duration, options.warmup, options.connections) == (5, 1, 4)
    assert (options.cold_requests, options.soak, options.users) == (3, 300, 50)
    assert (options.db, options.label, options.cache_pattern) == ("d", "l", "x:*")
    assert options.redis_url == "redis://127.0.0.1:1/0"
    assert (options.peers, options.only_peers, options.no_restart) == (True, True, True)
    assert options.report == Path("r.json")


def test_bad_worker_count_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(["--workers", "1,two"])
    assert exit_.value.code == 2


def test_workers_scale_timeline_only() -> None:
    options = parse_args(["--workers", "1,2"])
    one, two = selected(options)
    assert (one.name, one.cpus, two.name, two.cpus) == ("wren", "0", "wren-2w", "0,1")
    assert operations_of(one, options.ops) == list(OPERATIONS)
    assert operations_of(two, options.ops) == ["Timeline"]


def test_peers_run_their_operations_only() -> None:
    options = parse_args(["--peers", "--only-peers"])
    specs = selected(options)
    assert [s.name for s in specs] == ["postgraphile", "naive_strawberry", "floor"]
    assert {s.port for s in specs} == {5678, 5679, 5680}
    for spec in specs:
        assert set(operations_of(spec, options.ops)) == PEER_OPS
    # The soak runs Wren whatever the selection.
    assert soak_spec(options).name == "wren"


def test_servers_flag_filters_by_name() -> None:
    options = parse_args(["--peers", "--servers", "wren,floor"])
    assert [s.name for s in selected(options)] == ["wren", "floor"]


def test_database_url_in_each_server_environment() -> None:
    wren, _, naive, floor = server_specs([1], True, "redis://127.0.0.1:6379/0", "k" * 32)
    url = "postgresql://postgres@127.0.0.1:5432/wren_bench"
    env = wren.environment(url)
    assert env["WREN_DATABASE_URL"] == env["DATABASE_URL"] == url
    assert env["WREN_ENVIRONMENT"] == "production"
    assert env["WREN_JWT_SECRET"] == "k" * 32
    naive_env = naive.environment(url)
    assert naive_env["DATABASE_URL"] == url.replace("postgresql://", "postgresql+asyncpg://")
    assert "WREN_DATABASE_URL" not in naive_env or naive_env["WREN_DATABASE_URL"] != url
    assert floor.environment(url)["BENCH_DATABASE_URL"] == url
