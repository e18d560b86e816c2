"""`scripts/cluster up|down|status`: the topology of "Scaling out", started on this machine.

    scripts/cluster up                # PgBouncer, 3 instances, HAProxy on :8080
    scripts/cluster up --instances 2 --port 9000 --run-dir /tmp/wren-cluster
    scripts/cluster status
    scripts/cluster down              # stops exactly the processes `up` started

`up` needs PostgreSQL and Redis running (`--pg`, `--redis-url`), creates the database
when it is missing and migrates it, then starts PgBouncer (transaction mode) in front of
PostgreSQL, the instances (`wren serve` with WREN_DATABASE_POOLER=transaction) on free
ports, and HAProxy on `--port`, and waits until HAProxy sees every instance up. What it
started is recorded in `<run dir>/cluster.json` (pids, command lines, ports); `down`
signals those pids only, and only while each still runs the command recorded for it.

Read replicas, Redis Cluster or Sentinel: the instances inherit the environment of
`scripts/cluster up`, so their WREN_* settings set there apply to every instance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from deploy import local

ROOT = Path(__file__).resolve().parent.parent
STATE = "cluster.json"


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--run-dir", type=Path, default=ROOT / ".cluster")
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--port", type=int, default=8080, help="HAProxy's port (0: a free one)")
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    ap.add_argument("--database", default="wren")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--wren", default=str(ROOT / ".venv" / "bin" / "wren"))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status."""
    args = parse(argv)
    if args.command == "up":
        return up(args)
    if args.command == "down":
        return down(args.run_dir)
    return status(args.run_dir)


def _running(state: dict[str, dict[str, object]]) -> dict[str, int]:
    """The recorded processes that still run what they were started as."""
    alive = {}
    for name, entry in state.items():
        pid = int(str(entry["pid"]))
        if local.pid_alive(pid) and _runs(pid, entry["command"]):
            alive[name] = pid
    return alive


def _runs(pid: int, command: object) -> bool:
    """Whether the process runs `command` (a script's command line starts with its interpreter)."""
    line = _cmdline(pid)
    return isinstance(command, list) and line is not None and line[-len(command) :] == command


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _load(run_dir: Path) -> dict[str, object] | None:
    path = run_dir / STATE
    if not path.exists():
        return None
    loaded: dict[str, object] = json.loads(path.read_text())
    return loaded


def up(args: argparse.Namespace) -> int:
    """Start the topology; 0 once HAProxy sees every instance up."""
    run_dir: Path = args.run_dir
    previous = _load(run_dir)
    if previous is not None and _running(previous["processes"]):  # type: ignore[arg-type]
        print(f"already up (see {run_dir / STATE}); run `scripts/cluster down` first")
        return 1
    run_dir.mkdir(parents=True, exist_ok=True)
    pg = urlsplit(args.pg)
    direct = f"{args.pg}/{args.database}"
    asyncio.run(_create_database(args.pg, args.database))
    subprocess.run([args.wren, "migrate"], env={**os.environ, "WREN_DATABASE_URL": direct},
                   check=True)  # fmt: skip

    started: list[local.Process] = []
    bouncer_port = local.free_port()
    bouncer = local.pgbouncer(bouncer_port, (pg.hostname or "127.0.0.1", pg.port or 5432), run_dir)
    ports = {f"wren{n + 1}": local.free_port() for n in range(args.instances)}
    port = args.port or local.free_port()
    env = {
        "WREN_DATABASE_URL": f"postgresql://{pg.username or 'postgres'}@127.0.0.1:{bouncer_port}"
        f"/{args.database}",
        "WREN_DATABASE_POOLER": "transaction",
        "WREN_REDIS_URL": args.redis_url,
        "WREN_SHUTDOWN_DRAIN": str(local.drain_needed() + 1),
        "WREN_POOL_SIZE": "5",
    }
    try:
        bouncer.start()
        started.append(bouncer)
        bouncer.wait_listening(bouncer_port, timeout=10)
        for name, instance_port in ports.items():
            process = local.instance(name, instance_port, run_dir, args.wren, env)
            process.start()
            started.append(process)
        proxy = local.haproxy(port, ports, run_dir)
        proxy.start()
        started.append(proxy)
        _record(run_dir, started, port, ports, bouncer_port)
        proxy.wait_listening(port, timeout=10)
        for name, instance_port in ports.items():
            next(p for p in started if p.name == name).wait_listening(instance_port)
            local.wait_haproxy(run_dir, name, "UP", process=proxy)
    except (RuntimeError, OSError) as error:
        print(f"could not start: {error}", file=sys.stderr)
        for process in reversed(started):
            process.stop()
        (run_dir / STATE).unlink(missing_ok=True)
        return 1
    print(f"up: http://127.0.0.1:{port}/graphql (HAProxy) over {', '.join(ports)}; "
          f"PgBouncer on {bouncer_port}; logs and pids in {run_dir}")  # fmt: skip
    return 0


def _record(
    run_dir: Path, processes: list[local.Process], port: int, ports: dict[str, int], pgb: int
) -> None:
    """Write what runs, before waiting on any of it: `down` must find it whatever happens."""
    state = {
        "url": f"http://127.0.0.1:{port}/graphql",
        "ports": {"haproxy": port, "pgbouncer": pgb, **ports},
        "processes": {p.name: {"pid": p.pid, "command": p.command} for p in processes},
    }
    (run_dir / STATE).write_text(json.dumps(state, indent=2) + "\n")


async def _create_database(pg: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{pg}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def down(run_dir: Path, timeout: float = 30) -> int:
    """SIGTERM what `up` started (HAProxy last), SIGKILL what outlives `timeout`."""
    state = _load(run_dir)
    if state is None:
        print(f"nothing recorded in {run_dir}")
        return 0
    processes: dict[str, dict[str, object]] = state["processes"]  # type: ignore[assignment]
    alive = _running(processes)
    # The instances first (they finish what they serve, through PgBouncer), then the rest.
    instances = [name for name in alive if name.startswith("wren")]
    others = [name for name in alive if name not in instances]
    for group in (instances, others):
        for name in group:
            os.kill(alive[name], signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(local.pid_alive(alive[n]) for n in group) and time.monotonic() < deadline:
            time.sleep(0.1)
        for name in group:
            if local.pid_alive(alive[name]) and _runs(alive[name], processes[name]["command"]):
                os.kill(alive[name], signal.SIGKILL)
    order = instances + others
    (run_dir / STATE).unlink()
    print(f"down: stopped {', '.join(order) or 'nothing (none was running)'}")
    return 0


def status(run_dir: Path) -> int:
    """Print what runs and how HAProxy sees the instances; 1 when nothing is up."""
    state = _load(run_dir)
    if state is None:
        print("down")
        return 1
    alive = _running(state["processes"])  # type: ignore[arg-type]
    print(f"{state['url']}: running {', '.join(sorted(alive)) or 'nothing'}")
    if "haproxy" in alive:
        for name, seen in sorted(local.haproxy_states(run_dir).items()):
            print(f"  {name}: {seen}")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
