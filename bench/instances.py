"""`bench/run.py --instances 1,2,3`: Timeline through HAProxy over 1, 2, 3 instances.

Each count gets fresh `wren serve` processes (one worker each, production mode, the
benchmark's database and Redis) behind HAProxy (deploy/local.py's configuration); wrk
loads HAProxy from the last CPU as the other passes do. One instance is also loaded
directly, without HAProxy, to show what the extra hop costs. Nothing is pinned but wrk:
the instances, HAProxy and PostgreSQL share the other CPUs, which is the point on a
small host and what the report says.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.database import PG, describe, ensure_database, open_dataset
from bench.load import run_wrk, write_lua
from bench.operations import payload_for
from bench.options import Options
from bench.paths import CONTRACT_OPS, RESULTS, VENV
from bench.procstat import ProcStats, proc_stats
from deploy import local

Row = dict[str, Any]
OPERATION = "Timeline"


def instances_env(options: Options, database: str) -> dict[str, str]:
    """The settings of every measured instance."""
    return {
        "WREN_ENVIRONMENT": "production",
        "WREN_LOG_LEVEL": "warning",
        "WREN_DATABASE_URL": f"{PG}/{database}",
        "WREN_REDIS_URL": options.redis_url,
        "WREN_JWT_SECRET": os.environ.get("WREN_JWT_SECRET") or "x" * 40,
        "WREN_WORKERS": "1",
        "WREN_POOL_SIZE": "10",
    }


def cpu_by_part(before: ProcStats, after: ProcStats, ours: dict[int, str]) -> dict[str, float]:
    """CPU seconds used between two snapshots by the processes started here (`ours`: pid ->
    part), PostgreSQL (all of its processes: its other clients too), and the rest (wrk,
    started and ended in between, is in neither snapshot)."""
    ticks: dict[str, int] = {}
    for pid, (comm, _group, t) in after.items():
        if pid == os.getpid():
            continue
        # A process started meanwhile counts from zero.
        used = t - before[pid][2] if pid in before else t
        part = ours.get(pid) or (comm if comm == "postgres" else "other")
        ticks[part] = ticks.get(part, 0) + used
    hz = os.sysconf("SC_CLK_TCK")
    return {part: n / hz for part, n in sorted(ticks.items())}


def measure(options: Options, count: int, through_haproxy: bool, rawdir: Path) -> Row:
    """Start `count` instances (and HAProxy), load Timeline, stop everything; the row."""
    directory = Path(tempfile.mkdtemp(prefix="wren-bench-instances-"))
    dataset = open_dataset(options.db)
    env = instances_env(options, dataset.db)
    ports = {f"wren{n + 1}": local.free_port() for n in range(count)}
    started: list[local.Process] = []
    label = f"{count} behind HAProxy" if through_haproxy else f"{count}, direct"
    try:
        for name, port in ports.items():
            process = local.instance(name, port, directory, str(VENV / "wren"), env)
            process.start()
            started.append(process)
        for process, port in zip(started, ports.values(), strict=True):
            process.wait_listening(port, timeout=90)
        target = next(iter(ports.values()))
        if through_haproxy:
            target = local.free_port()
            proxy = local.haproxy(target, ports, directory)
            proxy.start()
            started.append(proxy)
            proxy.wait_listening(target, timeout=10)
            for name in ports:
                local.wait_haproxy(directory, name, "UP", process=proxy)
        url = f"http://127.0.0.1:{target}/graphql"
        payload = payload_for(OPERATION, CONTRACT_OPS / "operations", dataset.deep)
        assert payload is not None
        lua = rawdir / f"instances-{count}-{through_haproxy}.lua"
        write_lua(lua, [payload], dataset.handles, {})
        run_wrk(url, lua, options.warmup, options.connections, None)
        before = proc_stats()
        raw = rawdir / f"instances-{count}-{'haproxy' if through_haproxy else 'direct'}.txt"
        result = run_wrk(url, lua, options.duration, options.connections, raw)
        ours = {p.pid: p.name.rstrip("0123456789") for p in started if p.pid is not None}
        cpu = cpu_by_part(before, proc_stats(), ours)
        seconds = result["duration_us"] / 1e6
        result["other_cpu_pct"] = round(100 * cpu.get("other", 0) / seconds, 1)
        # CPU milliseconds per request of each part: what a bigger host must provide.
        result["cpu_ms_per_request"] = {
            part: round(1000 * used / max(result["requests"], 1), 3)
            for part, used in cpu.items()
            if part != "other"
        }
    finally:
        for process in reversed(started):
            process.stop()
        for log in directory.glob("*.log"):
            shutil.copy(log, rawdir / f"instances-{count}-{log.name}")
        shutil.rmtree(directory, ignore_errors=True)
    row = {"instances": count, "haproxy": through_haproxy, "label": label, **result}
    print(
        f"   {label}: {result['rps']:.1f} req/s  p50 {result['p50_us'] / 1000:.1f} ms  "
        f"p99 {result['p99_us'] / 1000:.1f} ms  errors "
        f"{result['non2xx'] + result['socket_errors'] + result['graphql_errors']}",
        flush=True,
    )
    return row


def run(options: Options) -> int:
    """Measure every count of --instances; write bench/results/<label>.md and .json."""
    missing = [tool for tool in ("wrk", "taskset", "psql", "haproxy") if not _found(tool)]
    if missing:
        raise SystemExit(
            f"not found: {', '.join(missing)} (Debian: apt-get install {' '.join(missing)})"
        )
    ensure_database(options.db, options.users)
    stamp = dt.datetime.now(dt.UTC)
    rawdir = RESULTS / "raw" / stamp.strftime("%Y%m%dT%H%M%S")
    rawdir.mkdir(parents=True, exist_ok=True)
    rows = [measure(options, 1, False, rawdir)]
    rows += [measure(options, n, True, rawdir) for n in options.instances or []]
    meta = {
        "date": stamp.strftime("%Y-%m-%d %H:%M UTC"),
        "db": options.db,
        "rows": describe(options.db),
        "cpus": os.cpu_count(),
        "connections": options.connections,
        "duration": options.duration,
        "warmup": options.warmup,
    }
    # Not the suite's latest.md unless asked for by name.
    out = RESULTS / (options.label if options.label != "latest" else "instances")
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    text = render(rows, meta)
    out.with_suffix(".md").write_text(text)
    print(f"\nwrote {out.with_suffix('.md')} and .json\n\n{text}")
    errors = sum(r["non2xx"] + r["socket_errors"] + r["graphql_errors"] for r in rows)
    return 1 if errors else 0


def _found(tool: str) -> bool:
    try:
        local.executable(tool)
    except FileNotFoundError:
        return False
    return True


def render(rows: list[Row], meta: dict[str, Any]) -> str:
    """The Markdown report."""
    base = rows[0]["rps"]
    lines = [
        f"# Wren instances behind HAProxy ({meta['date']})",
        "",
        f"Dataset `{meta['db']}`: {meta['rows']}. {OPERATION} (first: 20), `wrk -t1 "
        f"-c{meta['connections']} -d{meta['duration']}s` after {meta['warmup']} s of warm-up, "
        "wrk pinned to the last CPU; the instances (one worker each), HAProxy and "
        f"PostgreSQL unpinned, on a host of {meta['cpus']} CPUs.",
        "",
        "CPU ms per request: CPU time each part used during the run (from /proc), divided "
        "by the requests answered (PostgreSQL: all of its processes, its other clients "
        "too); `other CPU %`: processes outside the topology meanwhile.",
        "",
        "| instances | req/s | x one direct | p50 ms | p99 ms | errors | CPU ms/request: wren "
        "| haproxy | postgres | other CPU % |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        errors = r["non2xx"] + r["socket_errors"] + r["graphql_errors"]
        cpu = r["cpu_ms_per_request"]
        parts = " | ".join(f"{cpu.get(p, 0):.2f}" for p in ("wren", "haproxy", "postgres"))
        lines.append(
            f"| {r['label']} | {r['rps']:.1f} | {r['rps'] / base:.2f} | "
            f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | {errors} | {parts} | "
            f"{r['other_cpu_pct']} |"
        )
    return "\n".join(lines) + "\n"
