"""UserByHandle's latency while a flood of wrong-password log-ins runs, with and without
the bound on concurrent password hashes (WREN_HASH_CONCURRENCY).

    .venv/bin/python bench/login_flood.py [--seconds 20] [--flood 32] [--max-logins 4000]

Wren (`wren serve`, production mode, one worker) is pinned to CPU 0, against the demo
database (`wren_bench`, created like bench/run.py's when missing); the probe and the
flood run on the last CPU. For each setting: UserByHandle alone (sequential requests, one
connection), then the same probe while `--flood` concurrent clients send wrong passwords
for random demo handles, bounded by `--max-logins` requests and `--seconds`. The log-in
throttle is set out of the way (limits of a million), as for a flood from many addresses:
what is measured is the hashing's share of the CPU. Everything is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

if not __package__:
    # Run as `bench/login_flood.py`: the package needs its parent on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.client import percentile
from bench.database import PG, ensure_database
from bench.paths import CONTRACT_OPS, LAST_CPU, RESULTS, VENV
from bench.servers import Server, ServerSpec

USER_BY_HANDLE = (CONTRACT_OPS / "operations" / "UserByHandle.graphql").read_text()
LOG_IN = "mutation($h: String!, $p: String!) { logIn(handle: $h, password: $p) { token } }"


def probe(url: str, seconds: float, handles: int, stop: threading.Event) -> list[float]:
    """Sequential UserByHandle requests for `seconds` (or until `stop`): latencies in ms."""
    latencies: list[float] = []
    rng = random.Random(1)  # noqa: S311 - load pattern, not a secret
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline and not stop.is_set():
            handle = f"user{rng.randint(1, handles)}"
            body = {"query": USER_BY_HANDLE, "variables": {"handle": handle}}
            started = time.perf_counter()
            response = client.post(url, json=body)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200 or "errors" in response.json():
                raise RuntimeError(f"UserByHandle failed: {response.text[:200]}")
    return latencies


async def flood(url: str, clients: int, max_logins: int, seconds: float, handles: int) -> int:
    """Wrong-password log-ins from `clients` concurrent connections, bounded; how many ran."""
    sent = 0
    deadline = time.monotonic() + seconds

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < max_logins and time.monotonic() < deadline:
            sent += 1
            handle = f"user{random.randint(1, handles)}"  # noqa: S311
            variables = {"h": handle, "p": "not the password"}
            await client.post(url, json={"query": LOG_IN, "variables": variables})

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(clients)))
    return sent


def measure(url: str, args: argparse.Namespace, handles: int) -> dict[str, Any]:
    """The probe alone, then under the flood."""
    alone = probe(url, args.seconds / 2, handles, threading.Event())
    done = threading.Event()
    result: dict[str, Any] = {}

    def run_flood() -> None:
        started = time.monotonic()
        result["logins"] = asyncio.run(
            flood(url, args.flood, args.max_logins, args.seconds, handles)
        )
        result["flood_seconds"] = time.monotonic() - started
        done.set()

    flooding = threading.Thread(target=run_flood)
    flooding.start()
    time.sleep(1)  # let the flood fill the server's queue
    under = probe(url, args.seconds - 1, handles, done)
    flooding.join()
    return {
        "alone_p50": percentile(alone, 50),
        "alone_p99": percentile(alone, 99),
        "alone_n": len(alone),
        "flood_p50": percentile(under, 50),
        "flood_p99": percentile(under, 99),
        "flood_n": len(under),
        "logins": result["logins"],
        "logins_per_s": result["logins"] / result["flood_seconds"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="wren_bench")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--flood", type=int, default=32, help="concurrent log-in clients")
    parser.add_argument("--max-logins", type=int, default=4000)
    parser.add_argument("--settings", default="0,1", help="WREN_HASH_CONCURRENCY values")
    parser.add_argument("--port", type=int, default=0, help="0: a free one")
    args = parser.parse_args()
    ensure_database(args.db, args.users)
    if not args.port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = sock.getsockname()[1]
    rows = []
    for value in args.settings.split(","):
        env = {
            "WREN_ENVIRONMENT": "production",
            "WREN_JWT_SECRET": secrets.token_urlsafe(32),
            "WREN_CACHE_NAMESPACE": f"bench-flood-{secrets.token_hex(4)}",
            "WREN_HASH_CONCURRENCY": value,
            "WREN_LOGIN_MAX_FAILURES": "1000000",
            "WREN_LOGIN_MAX_FAILURES_PER_CLIENT": "1000000",
            "WREN_LOG_LEVEL": "warning",
        }
        spec = ServerSpec(
            name=f"wren-hash-{value}",
            cmd=[str(VENV / "wren"), "serve", "--port", str(args.port)],
            port=args.port,
            cpus="0",
            ops=CONTRACT_OPS / "operations",
            env=env,
        )
        (RESULTS / "raw").mkdir(parents=True, exist_ok=True)
        server = Server(spec, RESULTS / "raw" / "login-flood.log")
        server.start(f"{PG}/{args.db}")
        try:
            os.sched_setaffinity(0, {LAST_CPU})
            row = measure(spec.url, args, args.users)
        finally:
            server.stop()
        row["hash_concurrency"] = int(value)
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = RESULTS / "login-flood.json"
    out.write_text(json.dumps({"rows": rows, "args": vars(args)}, indent=2) + "\n")
    lines = [
        "| WREN_HASH_CONCURRENCY | UserByHandle alone p50 / p99 ms | under the flood p50 / p99 ms"
        " | wrong log-ins answered per s |",
        "|---|---:|---:|---:|",
    ]
    for row in rows:
        label = "0 (default pool)" if row["hash_concurrency"] == 0 else str(row["hash_concurrency"])
        lines.append(
            f"| {label} | {row['alone_p50']:.1f} / {row['alone_p99']:.1f}"
            f" | {row['flood_p50']:.1f} / {row['flood_p99']:.1f} | {row['logins_per_s']:.1f} |"
        )
    (RESULTS / "login-flood.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
