"""The command line of bench/run.py, parsed into typed options."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.operations import OPERATIONS


@dataclass(frozen=True)
class Options:
    """What to measure and how: the parsed command line."""

    ops: list[str]
    peers: bool
    only_peers: bool
    servers: list[str] | None
    workers: list[int]
    duration: int
    warmup: int
    connections: int
    cold_requests: int
    soak: int
    db: str
    users: int
    redis_url: str
    cache_pattern: str
    label: str
    no_restart: bool
    report: Path | None
    baseline: Path | None = None
    instances: list[int] | None = None


def parser(description: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; `description` is the usage text that --help prints."""
    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ops", default=",".join(OPERATIONS), help="subset of " + ",".join(OPERATIONS))
    ap.add_argument("--peers", action="store_true", help="also PostGraphile, naive and floor")
    ap.add_argument("--only-peers", action="store_true", help="the peers without Wren")
    ap.add_argument("--servers", help="only these servers, e.g. wren,postgraphile")
    ap.add_argument("--workers", default="1", help="Wren worker counts to run, e.g. 1,2")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--cold-requests", type=int, default=20)
    ap.add_argument("--soak", type=int, default=0, help="seconds of mixed load to watch RSS")
    ap.add_argument("--db", default="wren_bench")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--cache-pattern", default="wren:*", help="keys LeaderboardCold deletes")
    ap.add_argument("--label", default="latest", help="bench/results/<label>.md and .json")
    ap.add_argument(
        "--no-restart",
        action="store_true",
        help="never restart PostgreSQL (without pg_stat_statements preloaded: no SQL counts)",
    )
    ap.add_argument(
        "--instances",
        help="instead of the suite: Timeline through HAProxy over these counts, e.g. 1,2,3",
    )
    ap.add_argument("--report", type=Path, help="only rewrite the Markdown of a results JSON")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="another checkout of Wren (with its .venv), measured beside this one as wren@base",
    )
    return ap


def parse_args(argv: Sequence[str] | None = None, description: str | None = None) -> Options:
    """Options from the command line; unknown operation names are left out."""
    ap = parser(description)
    a = ap.parse_args(argv)
    try:
        workers = [int(w) for w in a.workers.split(",")]
    except ValueError:
        ap.error(f"--workers takes comma-separated counts, not {a.workers!r}")
    try:
        instances = [int(n) for n in a.instances.split(",")] if a.instances else None
    except ValueError:
        ap.error(f"--instances takes comma-separated counts, not {a.instances!r}")
    return Options(
        ops=[o for o in a.ops.split(",") if o in OPERATIONS],
        peers=a.peers,
        only_peers=a.only_peers,
        servers=a.servers.split(",") if a.servers else None,
        workers=workers,
        duration=a.duration,
        warmup=a.warmup,
        connections=a.connections,
        cold_requests=a.cold_requests,
        soak=a.soak,
        db=a.db,
        users=a.users,
        redis_url=a.redis_url,
        cache_pattern=a.cache_pattern,
        label=a.label,
        no_restart=a.no_restart,
        report=a.report,
        baseline=a.baseline,
        instances=instances,
    )
