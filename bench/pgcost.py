"""What a request costs PostgreSQL: its backends' CPU and its statements' execution time.

    .venv/bin/python bench/pgcost.py --ops Timeline,Directory --requests 500
    .venv/bin/python bench/pgcost.py --src /work/main/src     # another checkout's code

One process serves a checkout's app in-process (ASGI, no HTTP server) against the
benchmark database, warms up, then sends N sequential requests per operation. Two figures
per request: the CPU time (from /proc/<pid>/schedstat, nanoseconds) of the PostgreSQL
backends serving this process's connections, found through pg_stat_activity.client_port,
which counts everything PostgreSQL does for the request (bind, execute, building JSON,
sending rows); and, per statement, pg_stat_statements' total_exec_time / calls, reset for
the benchmark database just before (other clients of that database add to those
statements, not to the backends' CPU). Both are the server's PostgreSQL cost when it shares
the cores with the server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import appchild  # noqa: E402
from bench.inprocess import VARIABLES, _document  # noqa: E402

_CHILD = r"""
import os
import asyncpg

def backend_cpu(pids):
    # A backend gone meanwhile (its connection closed) would make the figure wrong: refuse.
    return sum(int(open(f"/proc/{pid}/schedstat").read().split()[0]) for pid in pids)

def local_ports():
    # Local ports of this process's open TCP connections to port 5432: its sockets' inodes
    # (/proc/self/fd) looked up in the namespace's table (/proc/self/net/tcp, hex host:port).
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for name in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if int(remote.split(":")[1], 16) == 5432 and state == "01" and inode in inodes:
                ports.add(int(local.split(":")[1], 16))
    return ports

async def main():
    admin = await asyncpg.connect(spec["admin"])
    out = {}
    async with app_client(spec) as (app, http):
        for name, (text, variables) in spec["ops"].items():
            body = {"query": text, "variables": variables}
            for _ in range(spec["warmup"]):
                r = await http.post("/graphql", json=body)
                assert r.status_code == 200 and "errors" not in r.json(), r.text
            ports = local_ports()
            pids = [row["pid"] for row in await admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])"
                " AND pid <> pg_backend_pid()",
                list(ports))]
            await admin.execute(
                "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database"
                " WHERE datname = $1), 0)", spec["dbname"])
            before = backend_cpu(pids)
            for _ in range(spec["requests"]):
                await http.post("/graphql", json=body)
            cpu = backend_cpu(pids) - before
            rows = await admin.fetch(
                "SELECT calls, total_exec_time, rows,"
                " left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS q"
                " FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database"
                " WHERE datname = $1) AND query NOT LIKE '%pg_stat_statements%'"
                " ORDER BY total_exec_time DESC", spec["dbname"])
            out[name] = {
                "backends": len(pids),
                "cpu_ms": cpu / 1e6 / spec["requests"],
                "statements": [
                    {"calls": r["calls"], "ms_per_call": r["total_exec_time"] / r["calls"],
                     "rows_per_call": r["rows"] / r["calls"], "query": r["q"]}
                    for r in rows if r["calls"] >= spec["requests"] // 2
                ],
            }
    await admin.close()
    print(json.dumps(out))

asyncio.run(main())
"""


def main() -> int:
    """Run the measurement, print a table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--src", type=Path, default=HERE.parent / "src")
    ap.add_argument("--ops", default="Timeline,Directory")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/wren_bench")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    spec = {
        "ops": {op: (_document(op), VARIABLES[op]) for op in args.ops.split(",")},
        "requests": args.requests,
        "warmup": args.warmup,
        "db": args.db,
        # pg_stat_statements is created in the postgres database; it sees every database.
        "admin": args.db.replace("+asyncpg", "").rsplit("/", 1)[0] + "/postgres",
        "dbname": args.db.rsplit("/", 1)[1],
        "redis": args.redis_url,
    }
    result = appchild.run(_CHILD, args.src, spec)
    for op, figures in result.items():
        print(f"{op}: PostgreSQL backends' CPU {figures['cpu_ms']:.3f} ms/request")
        for s in figures["statements"]:
            print(
                f"  {s['ms_per_call']:.3f} ms/call x {s['calls'] / args.requests:g}/request,"
                f" {s['rows_per_call']:g} rows: {s['query']}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
