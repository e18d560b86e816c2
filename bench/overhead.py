"""What observability costs a server: its CPU per request with each setting, side by side.

    .venv/bin/python bench/overhead.py                       # Timeline, UserByHandle, 7 rounds
    .venv/bin/python bench/overhead.py --ops UserByHandle --rounds 3 --requests 500

One `wren serve` per setting, all started at once and pinned to CPU 0 (this process, the
client, runs on the last CPU): nothing observed (`off`), metrics (`WREN_METRICS_PORT`),
traces sampled at 0.01 exported over OTLP/HTTP to a receiver this process runs
(`traced`), the same with no request sampled (`sampled-out`) and with every one
(`sampled`), the sampler with `OTEL_TRACES_EXPORTER=none` (`no-exporter`), and a second
server with nothing (`off2`, the control: how far two identical processes differ).
Each round sends every server the same bounded number of requests per operation (a few
keep-alive connections), one server after the other in an order that alternates from
round to round, and reads the CPU time its threads used meanwhile from
/proc/<pid>/task/*/schedstat (nanoseconds on CPU, the exporter's thread included). CPU
per request, unlike req/s, hardly moves when other processes share the cores. The table
gives, per operation and setting, the median over rounds of the server's CPU per request,
and the median (and range) over rounds of its ratio to `off` in the same round. Needs the
benchmark database (`bench/run.py` creates it).

`--ops Typename` measures `{ __typename }` (bench/inprocess.py's own operation): what a
request costs before any SQL. `--ops Feed` logs in as user1 on each server once started
and sends every request with that viewer's token.

At 0.01, which few of a few hundred requests are sampled is chance, and a sampled one
costs a hundred times more than one sampled out: `traced` moves with that chance more
than with anything else. `sampled-out` and `sampled` give the two costs apart, and a last
table what they make at `traced`'s ratio (`--ratio`, default 0.01): sampled out plus the
ratio times the sampled request's cost over it, the exporter's thread included.

`--src ../base/src` serves another checkout's code (with this one's dependencies), for
figures before and after a change.

`--callgrind` counts instructions instead (the servers run under `valgrind
--tool=callgrind`, instrumented only while their requests are measured, hash seed fixed):
slower by fifty times, but the same count within 0.5 % from one run to the next, whatever
else the machine runs. Kernel time is not counted (system calls are the same for every
setting), the exporter's thread is, and is also given apart: the table after the first
counts the event loop's thread only. The span exporter sends what it holds every 5 s of
wall time (OTEL_BSP_SCHEDULE_DELAY), or at 512 spans: under valgrind, fifty times
slower, that would be fifty times more often per request than at full speed, so the
exporting settings get fifty times the delay (unless OTEL_BSP_SCHEDULE_DELAY is set):
`sampled` then exports every 512 spans as at full speed, and `traced`'s few sampled
requests' spans are not exported while counted (the last table counts their export,
from `sampled`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.client import viewer_token
from bench.inprocess import OWN_OPS, VARIABLES, _sink
from bench.operations import OPERATIONS
from bench.paths import CONTRACT_OPS, LAST_CPU, VENV
from bench.servers import Server, ServerSpec

SAMPLED = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.01",
}


# Under callgrind, fifty times slower, the batch span processor's schedule (an export
# every 5 s of wall time) would export fifty times more often per request than at full
# speed; fifty times the delay exports as often per request (at full speed a few thousand
# requests, or 512 spans, per export), so what is counted is what a request costs there.
CALLGRIND_SCHEDULE_DELAY = str(5000 * 50)


def variants(
    sink: str, metrics_port: int, ratio: str = "0.01", callgrind: bool = False
) -> dict[str, dict[str, str]]:
    """Each setting's environment."""
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink}
    if callgrind and "OTEL_BSP_SCHEDULE_DELAY" not in os.environ:
        exporting["OTEL_BSP_SCHEDULE_DELAY"] = CALLGRIND_SCHEDULE_DELAY
    return {
        "off": {},
        "metrics": {"WREN_METRICS_PORT": str(metrics_port)},
        "traced": {**exporting, **SAMPLED, "OTEL_TRACES_SAMPLER_ARG": ratio},
        "sampled-out": {**exporting, **SAMPLED, "OTEL_TRACES_SAMPLER_ARG": "0"},
        "sampled": {**exporting, **SAMPLED, "OTEL_TRACES_SAMPLER_ARG": "1"},
        "no-exporter": {"OTEL_TRACES_EXPORTER": "none", **SAMPLED},
        "off2": {},
    }


def cpu_ns(pid: int) -> int:
    """Nanoseconds on CPU of the process's live threads."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue
    return total


def instructions(pid: int, dumps: Path, label: str, keep: Path | None = None) -> tuple[int, int]:
    """Dump a callgrind server's counts (since the last zeroing): their total over every
    thread, and the main thread's (the event loop's; the exporter's thread is apart).

    With --separate-threads each dump is one file per thread, `<out>.<n>-<thread>`; with
    `keep`, moved there (for callgrind_annotate) instead of deleted.
    """
    subprocess.run(["callgrind_control", "-d", label, str(pid)], check=True, capture_output=True)
    for _ in range(50):
        found = sorted(dumps.glob(f"{label}.{pid}.cg.*"))
        totals: dict[str, int] = {}
        for dump in found:
            for line in dump.read_text().splitlines():
                if line.startswith("totals:"):  # the last line, once the dump is whole
                    totals[dump.name.rsplit("-", 1)[-1]] = int(line.split()[1])
        if found and len(totals) == len(found):
            time.sleep(0.5)  # every thread's file written
            if len(sorted(dumps.glob(f"{label}.{pid}.cg.*"))) == len(found):
                for dump in found:
                    if keep is not None:
                        dump.rename(keep / dump.name)
                    else:
                        dump.unlink()
                return sum(totals.values()), totals.get("01", 0)
        time.sleep(0.2)
    raise RuntimeError(f"no callgrind dump from {label}")


def callgrind(pid: int, switch: str) -> None:
    """Zero and start (`on`), or stop (`off`), a callgrind server's counting."""
    if switch == "on":
        subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-i", switch, str(pid)], check=True, capture_output=True)


def request_bytes(port: int, body: Mapping[str, object], token: str | None = None) -> bytes:
    """One keep-alive POST /graphql (with a viewer's bearer token when given)."""
    data = json.dumps(body, separators=(",", ":")).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\n{auth}"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def drive(port: int, payload: bytes, requests: int, connections: int) -> tuple[bytes, int]:
    """Send `requests` requests over `connections` connections; the last response body,
    and how many responses were sampled (their `traceresponse` flags `01`)."""
    left = requests
    last = b""
    sampled = 0

    async def one_connection() -> None:
        nonlocal left, last, sampled
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while left > 0:
                left -= 1
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                status = head.split(b" ", 2)[1]
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                    elif line[:14].lower() == b"traceresponse:" and line.endswith(b"-01"):
                        sampled += 1
                last = await reader.readexactly(length)
                if status != b"200":
                    raise RuntimeError(f"status {status!r}: {last[:300]!r}")
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return last, sampled


def main() -> int:
    """Run the rounds and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--ops", default="Timeline,UserByHandle", help="contract operations, or Typename"
    )
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=1000, help="per operation, server, round")
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--only", default="", help="comma-separated settings (default: all)")
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/wren_bench")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--port", type=int, default=8100, help="the first server's; then +1 ...")
    ap.add_argument(
        "--ratio",
        default="0.01",
        help="`traced`'s sampling ratio (`sampled-out` and `sampled` are 0 and 1)",
    )
    ap.add_argument("--callgrind", action="store_true", help="count instructions (valgrind)")
    ap.add_argument("--cpus", default="0", help="the servers' CPUs (taskset)")
    ap.add_argument("--keep", type=Path, help="(callgrind) move the dumps into this folder")
    ap.add_argument("--src", type=Path, help="serve this checkout's src/ (e.g. ../base/src)")
    a = ap.parse_args()
    unit = "instructions" if a.callgrind else "us"
    os.sched_setaffinity(0, {LAST_CPU})
    payloads = {
        name: {
            "query": OWN_OPS.get(name)
            or (CONTRACT_OPS / "operations" / f"{name}.graphql").read_text(),
            "variables": VARIABLES[name] if name in VARIABLES else OPERATIONS[name][1],
        }
        for name in a.ops.split(",")
    }
    sink = _sink()
    settings = variants(sink, a.port + 50, a.ratio, a.callgrind)
    if a.only:
        settings = {name: settings[name] for name in a.only.split(",")}
    secret = secrets.token_urlsafe(32)
    logs = Path(tempfile.mkdtemp(prefix="wren-overhead-"))
    servers: dict[str, Server] = {}
    try:
        for i, (label, env) in enumerate(settings.items()):
            port = a.port + i
            cmd = [str(VENV / "wren"), "serve", "--port", str(port)]
            if a.src is not None:
                env = {**env, "PYTHONPATH": str(a.src.resolve())}
            if a.callgrind:
                out = f"--callgrind-out-file={logs}/{label}.%p.cg"
                cmd = [
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    "--separate-threads=yes",
                    out,
                    *cmd,
                ]
                # Fifty times slower: no deadline, no body timeout within reach.
                env = {
                    **env,
                    "PYTHONHASHSEED": "0",
                    "WREN_EXECUTION_TIMEOUT": "600",
                    "WREN_BODY_TIMEOUT": "600",
                }
            spec = ServerSpec(
                name=f"wren-{label}",
                cmd=cmd,
                port=port,
                cpus=a.cpus,
                ops=CONTRACT_OPS / "operations",
                env={
                    "WREN_ENVIRONMENT": "production",
                    "WREN_LOG_LEVEL": "warning",
                    "WREN_REDIS_URL": a.redis_url,
                    "WREN_JWT_SECRET": secret,
                    # Feed's token is taken once per server and used for the whole run,
                    # which under callgrind outlasts the default 15 minutes.
                    "WREN_JWT_TTL": "7200",
                    # No slow-operation lines (a log line is not what is measured).
                    "WREN_SLOW_OPERATION_MS": "0",
                    **env,
                },
            )
            servers[label] = Server(spec, logs / f"{label}.log")
            servers[label].start(a.db, timeout=600 if a.callgrind else 90)
        tokens = {
            label: viewer_token(server.spec.url) if "Feed" in payloads else None
            for label, server in servers.items()
        }
        if "Feed" in payloads and not all(tokens.values()):
            raise SystemExit("Feed needs a viewer token: logIn as user1 failed")
        requests = {
            (label, name): request_bytes(server.spec.port, body, tokens[label])
            for label, server in servers.items()
            for name, body in payloads.items()
        }
        for (label, name), payload in requests.items():
            body, _ = asyncio.run(drive(servers[label].spec.port, payload, a.warmup, a.connections))
            if b'"errors"' in body:
                raise SystemExit(f"{label} {name}: {body[:300]!r}")
        # (operation, setting) -> CPU microseconds per request, one per round
        cpu: dict[tuple[str, str], list[float]] = {key: [] for key in requests}
        # (callgrind) the same, the event loop's thread only
        main_thread: dict[tuple[str, str], list[float]] = {key: [] for key in requests}
        # Responses sampled (traceresponse flags 01): a sampled request costs more than
        # one sampled out, and how many of a few hundred are is chance.
        samples = dict.fromkeys(requests, 0)
        order = list(servers)
        for n in range(a.rounds):
            for name in payloads:
                for label in order if n % 2 == 0 else order[::-1]:
                    pid = servers[label].proc.pid  # type: ignore[union-attr]
                    if a.callgrind:
                        callgrind(pid, "on")
                    before = cpu_ns(pid)
                    _, sampled = asyncio.run(
                        drive(
                            servers[label].spec.port,
                            requests[label, name],
                            a.requests,
                            a.connections,
                        )
                    )
                    line = f", {sampled} sampled" if sampled else ""
                    if a.callgrind:
                        callgrind(pid, "off")
                        used, loop = instructions(pid, logs, label, a.keep)
                        main_thread[label, name].append(loop / a.requests)
                        line += f", {loop / a.requests:,.0f} in the event loop's thread"
                    else:
                        used = (cpu_ns(pid) - before) // 1000
                    cpu[label, name].append(used / a.requests)
                    print(f"{name} {label}: {used / a.requests:,.0f} {unit}{line}", file=sys.stderr)
                    if sampled:
                        samples[label, name] += sampled
            print(f"round {n + 1}/{a.rounds} done", file=sys.stderr)
        report(payloads, order, cpu, a, unit)
        for (label, name), count in samples.items():
            if count:
                print(f"\n{name} {label}: {count} of {a.requests * a.rounds} requests sampled")
        if a.callgrind:
            print("\nThe event loop's thread only (without the span exporter's thread):\n")
            report(payloads, order, main_thread, a, unit, header=False)
        if {"off", "sampled-out", "sampled"} <= set(order):
            apart(payloads, cpu, main_thread if a.callgrind else None, float(a.ratio), unit)
    finally:
        for server in servers.values():
            server.stop()
    return 0


def report(
    payloads: Mapping[str, object],
    labels: list[str],
    cpu: dict[tuple[str, str], list[float]],
    a: argparse.Namespace,
    unit: str,
    *,
    header: bool = True,
) -> None:
    """The Markdown table: CPU per request, ratio to `off` within each round."""
    load = os.getloadavg()
    if header:
        print(
            f"{a.rounds} rounds x {a.requests} requests per operation and setting, "
            f"{a.connections} connections; load average {load[0]:.1f} at the end\n"
        )
    print("| operation | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name in payloads:
        cells = []
        base = cpu.get(("off", name))
        for label in labels:
            values = cpu[label, name]
            cell = f"{statistics.median(values):,.0f} {unit}"
            if base is not None and label != "off":
                ratios = [v / b for v, b in zip(values, base, strict=True)]
                cell += f" ({statistics.median(ratios):.3f}x, {min(ratios):.2f}-{max(ratios):.2f})"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")


def apart(
    payloads: Mapping[str, object],
    cpu: dict[tuple[str, str], list[float]],
    loop: dict[tuple[str, str], list[float]] | None,
    ratio: float,
    unit: str,
) -> None:
    """Tracing's cost without the chance of which requests a ratio samples: a request
    sampled out (`sampled-out` over `off`), a sampled one (`sampled` over `sampled-out`,
    and of that the exporter's thread), and what they make at the ratio."""
    print(
        f"\nTracing apart: what a request sampled out costs, what a sampled one costs more, "
        f"and both at a ratio of {ratio:g} (each the median over rounds):\n"
    )
    print(
        "| operation | sampled out, over off | a sampled request, over one sampled out "
        f"| of which the exporter's thread | at {ratio:g}, over off |"
    )
    print("|---|---:|---:|---:|---:|")

    def median(label: str, name: str, of: dict[tuple[str, str], list[float]]) -> float:
        return statistics.median(of[label, name])

    for name in payloads:
        off = median("off", name, cpu)
        out = median("sampled-out", name, cpu) - off
        sampled = median("sampled", name, cpu) - median("sampled-out", name, cpu)
        exporter = "n/a"
        if loop is not None:
            in_loop = median("sampled", name, loop) - median("sampled-out", name, loop)
            exporter = f"{sampled - in_loop:,.0f}"
        at = out + ratio * sampled
        print(
            f"| {name} | {out:,.0f} ({out / off:.1%}) | {sampled:,.0f} | {exporter} "
            f"| {at:,.0f} {unit} ({at / off:.1%}) |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
