"""The load pass: wrk (Lua, pinned to the last CPU) against each operation, and the soak."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from string import Template
from typing import Any

from bench.cache import ColdCache
from bench.client import percentile, sequential_timed, server_p50
from bench.database import PG, Dataset
from bench.operations import SOAK_OPS, WARM_AFTER_COLD, Payload, payload_for
from bench.options import Options
from bench.paths import HERE, LAST_CPU
from bench.procstat import cpu_times, group_memory, other_cpu, proc_stats, steal_pct, wait_idle
from bench.servers import Server, ServerSpec

WRK_LUA = HERE / "wrk.lua"
Row = dict[str, Any]


def lua_str(s: str) -> str:
    """A Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_lua(payloads: list[Payload], handles: int, headers: dict[str, str]) -> str:
    """A wrk script cycling over payloads, or over handles when one payload has $HANDLE."""
    bodies = [json.dumps(p, separators=(",", ":")) for p in payloads]
    prefix, suffix, cycle, many = bodies[0], "", 0, "{}"
    if len(bodies) > 1:
        many = "{" + ",".join(lua_str(b.replace('"$HANDLE"', '"user1"')) for b in bodies) + "}"
    elif '"$HANDLE"' in bodies[0]:
        prefix, suffix = bodies[0].split("$HANDLE", 1)
        cycle = handles
    header_lines = "\n".join(
        f"wrk.headers[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items()
    )
    return Template(WRK_LUA.read_text()).substitute(
        headers=header_lines,
        bodies=many,
        prefix=lua_str(prefix),
        suffix=lua_str(suffix),
        cycle=cycle,
    )


def write_lua(path: Path, payloads: list[Payload], handles: int, headers: dict[str, str]) -> None:
    """Write the wrk script of `render_lua` to path."""
    path.write_text(render_lua(payloads, handles, headers))


def wrk_command(url: str, lua: Path, seconds: int, connections: int) -> list[str]:
    """wrk on the last CPU, one thread, `connections` connections for `seconds`."""
    cmd = ["taskset", "-c", str(LAST_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    return [*cmd, "--timeout", "30s", "-s", str(lua)]


def bench_json(out: str) -> dict[str, Any] | None:
    """The numbers the Lua script's `done` printed, if it did."""
    match = re.search(r"^BENCH_JSON (.*)$", out, re.M)
    return json.loads(match.group(1)) if match else None


def run_wrk(url: str, lua: Path, seconds: int, connections: int, raw: Path | None) -> Row:
    """Load `url` with wrk on the last CPU; wrk's numbers as a dict."""
    cmd = [*wrk_command(url, lua, seconds, connections), "--latency", url]
    out = subprocess.run(cmd, text=True, capture_output=True, check=False).stdout
    if raw:
        raw.write_text(" ".join(cmd) + "\n\n" + out)
    result = bench_json(out)
    if result is None:
        raise RuntimeError(f"wrk failed:\n{out}")
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


def load_pass(
    spec: ServerSpec,
    ops: list[str],
    rows: dict[str, Row],
    headers: dict[str, str],
    options: Options,
    dataset: Dataset,
    rawdir: Path,
) -> None:
    """Per operation: wrk's req/s and latencies, CPU noise and the server's memory."""
    server = Server(spec, rawdir / f"{spec.name}.log")
    cache = ColdCache(options.redis_url, options.cache_pattern)
    try:
        server.start(f"{PG}/{dataset.db}")
        for op in ops:
            row = rows[op]
            if "skipped" in row or "error" in row:
                continue
            payload = payload_for(op, spec.ops, dataset.deep)
            assert payload is not None
            if op == "LeaderboardCold":
                row.update(cold_requests(spec.url, payload, headers, cache, options.cold_requests))
                continue
            lua = rawdir / f"{spec.name}-{op}.lua"
            write_lua(lua, [payload], dataset.handles, headers)
            run_wrk(spec.url, lua, options.warmup, options.connections, None)
            wait_idle(server.pgid)
            before, times = proc_stats(), cpu_times()
            raw = rawdir / f"{spec.name}-{op}.txt"
            result = run_wrk(spec.url, lua, options.duration, options.connections, raw)
            result["other_cpu_pct"] = round(
                other_cpu(before, proc_stats(), server.pgid, result["duration_us"] / 1e6), 1
            )
            result["steal_pct"] = round(steal_pct(times, cpu_times()), 1)
            rss, hwm = group_memory(server.pgid)
            result.update(rss_mib=round(rss / 1024, 1), peak_rss_mib=round(hwm / 1024, 1))
            row.update(result)
            wait_idle(server.pgid)
            if op == "Leaderboard":
                # Warm, sequential, after the load: the server time to set beside
                # LeaderboardCold's (measured the same way, with the cache emptied).
                timed = sequential_timed(spec.url, payload, 50, headers)
                row.update(
                    server_p50_ms=server_p50(timed),
                    sequential_p50_us=percentile([t for t, _ in timed], 50) * 1e6,
                )
            print(
                f"   {spec.name} {op}: {result['rps']:.1f} req/s  "
                f"p50 {result['p50_us'] / 1000:.1f} ms  p99 {result['p99_us'] / 1000:.1f} ms  "
                f"errors {result['non2xx'] + result['graphql_errors']}  "
                f"other CPU {result['other_cpu_pct']}%  steal {result['steal_pct']}%",
                flush=True,
            )
    finally:
        server.stop()


def cold_requests(
    url: str, payload: Payload, headers: dict[str, str], cache: ColdCache, n: int
) -> Row:
    """n requests each after emptying the cache, each followed by warm ones timed alike."""
    # Sequential, not under wrk. The warm requests that follow each one are timed in the
    # same moment, so the ratio compares the two under the same conditions.
    timed, warm, ratios = [], [], []
    for _ in range(n):
        cache.clear()
        cold = sequential_timed(url, payload, 1, headers)
        after = sequential_timed(url, payload, WARM_AFTER_COLD, headers)
        timed += cold
        warm += after
        cold_ms, warm_ms = cold[0][1], server_p50(after)
        if cold_ms and warm_ms:
            ratios.append(cold_ms / warm_ms)
    latencies = [latency for latency, _ in timed]
    return {
        "server_p50_ms": server_p50(timed),
        "warm_server_p50_ms": server_p50(warm),
        "pair_ratio_p50": percentile(ratios, 50) if ratios else None,
        "rps": len(latencies) / sum(latencies),
        "p50_us": percentile(latencies, 50) * 1e6,
        "p99_us": percentile(latencies, 99) * 1e6,
        "requests": len(latencies),
        "non2xx": 0,
        "socket_errors": 0,
        "graphql_errors": 0,
        "mode": "sequential, cache emptied before each request",
    }


def soak(spec: ServerSpec, options: Options, dataset: Dataset, rawdir: Path) -> dict[str, Any]:
    """Mixed load for options.soak seconds; RSS after one minute and at the end."""
    server = Server(spec, rawdir / f"{spec.name}-soak.log")
    payloads = [p for op in SOAK_OPS if (p := payload_for(op, spec.ops, dataset.deep))]
    lua = rawdir / "soak.lua"
    write_lua(lua, payloads, dataset.handles, {})
    samples = []
    try:
        server.start(f"{PG}/{dataset.db}")
        started = time.monotonic()
        proc = subprocess.Popen(
            [*wrk_command(spec.url, lua, options.soak, options.connections), spec.url],
            stdout=subprocess.PIPE,
            text=True,
        )
        while proc.poll() is None:
            time.sleep(5)
            samples.append((round(time.monotonic() - started), group_memory(server.pgid)[0]))
        out = proc.communicate()[0]
    finally:
        server.stop()
    at_minute = next((kib for t, kib in samples if t >= 60), samples[0][1])
    end = samples[-1][1]
    return {
        "seconds": options.soak,
        "rss_after_1_min_mib": round(at_minute / 1024, 1),
        "rss_at_end_mib": round(end / 1024, 1),
        "growth_pct": round(100 * (end - at_minute) / at_minute, 1),
        "samples_mib": [(t, round(k / 1024, 1)) for t, k in samples],
        "wrk": bench_json(out),
    }
