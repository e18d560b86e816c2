"""`scripts/cluster up|down|status`: the whole topology of "Scaling out", on this machine.

    scripts/cluster up                # all of it, HAProxy on :8080
    scripts/cluster up --instances 2 --port 9000 --run-dir /tmp/wren-cluster
    scripts/cluster status
    scripts/cluster down              # stops exactly the processes `up` started

`up` starts, each on free loopback ports and with its files under the run directory:

- a PostgreSQL primary and a streaming replica of its own (deploy/postgres.py: initdb,
  then pg_basebackup -R), the database created and migrated on the primary;
- PgBouncer in transaction mode in front of the primary;
- a Redis Cluster of three masters (deploy/redis.py, redis-cli --cluster create);
- the instances (`wren serve`, `--workers` each) with WREN_DATABASE_URL through
  PgBouncer, WREN_DATABASE_REPLICA_URLS on the replica and WREN_REDIS_CLUSTER;
- HAProxy on `--port`, and waits until HAProxy sees every instance up.

`--pg URL` (a server with a database `--database`, created and migrated when missing) or
`--redis-url URL` use an external PostgreSQL (no replica then) or Redis instead; every
other WREN_* setting in the environment of `scripts/cluster up` applies to every
instance. What it started is recorded in `<run dir>/cluster.json` (pids, command lines,
ports) as it starts it; `down` signals those pids only, and only while each still runs
the command recorded for it. It never touches another PostgreSQL or Redis of the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from deploy import local

ROOT = Path(__file__).resolve().parent.parent
STATE = "cluster.json"
# The order `down` stops things in: what serves first, what stores last.
STOP_ORDER = ("instance", "front", "redis", "replica", "primary")
# PostgreSQL's fast shutdown (SIGTERM waits for every client to leave).
STOP_SIGNAL = {"replica": signal.SIGINT, "primary": signal.SIGINT}


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    ap = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("command", choices=["up", "down", "status"])
    ap.add_argument("--run-dir", type=Path, default=ROOT / ".cluster")
    ap.add_argument("--instances", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1, help="worker processes per instance")
    ap.add_argument("--port", type=int, default=8080, help="HAProxy's port (0: a free one)")
    ap.add_argument("--pg", help="an external PostgreSQL (postgresql://user@host:port)")
    ap.add_argument("--database", default="wren")
    ap.add_argument("--redis-url", help="an external Redis (redis://host:port/db)")
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
    if os.geteuid() == 0:
        # PostgreSQL and PgBouncer run as another user, who must reach their files.
        run_dir.chmod(0o755)
    for owned in ("postgres", "redis"):
        # Data of an earlier `up`: a fresh topology each time.
        shutil.rmtree(run_dir / owned, ignore_errors=True)
    state = State(run_dir)
    try:
        _start(args, state)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as error:
        print(f"could not start: {error}", file=sys.stderr)
        down(run_dir)
        return 1
    print(f"up: {state.data['url']} (HAProxy); {', '.join(state.processes)}; "
          f"logs and pids in {run_dir}")  # fmt: skip
    return 0


class State:
    """What runs, written to `cluster.json` as each thing starts: `down` must find it
    whatever happens next."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / STATE
        self.data: dict[str, object] = {"url": None, "ports": {}, "processes": {}}
        self.processes: dict[str, dict[str, object]] = {}
        self.ports: dict[str, int] = {}
        self.data.update(processes=self.processes, ports=self.ports)

    def add(self, name: str, role: str, pid: int, command: list[str] | None = None) -> None:
        """Record a process (its command line as /proc shows it, unless given)."""
        self.processes[name] = {"pid": pid, "role": role, "command": command or _cmdline(pid)}
        self.write()

    def write(self) -> None:
        """Save it."""
        self.path.write_text(json.dumps(self.data, indent=2) + "\n")


def _start(args: argparse.Namespace, state: State) -> None:
    run_dir: Path = args.run_dir
    env = {
        "WREN_DATABASE_POOLER": "transaction",
        "WREN_SHUTDOWN_DRAIN": str(local.drain_needed() + 1),
        "WREN_POOL_SIZE": "5",
    }
    if args.pg is None:
        primary, replica = _postgres(run_dir, state)
        state.ports.update(primary=primary, replica=replica)
        pg = f"postgresql://postgres@127.0.0.1:{primary}"
        env["WREN_DATABASE_REPLICA_URLS"] = f"{pg.rsplit(':', 1)[0]}:{replica}/{args.database}"
    else:
        pg = args.pg.rstrip("/")
    server = urlsplit(pg)
    direct = f"{pg}/{args.database}"
    asyncio.run(_create_database(pg, args.database))
    subprocess.run([args.wren, "migrate"], env={**os.environ, "WREN_DATABASE_URL": direct},
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip

    bouncer_port = local.free_port()
    upstream = (server.hostname or "127.0.0.1", server.port or 5432)
    bouncer = local.pgbouncer(bouncer_port, upstream, run_dir)
    bouncer.start()
    state.add(bouncer.name, "front", _pid(bouncer), bouncer.command)
    state.ports["pgbouncer"] = bouncer_port
    env["WREN_DATABASE_URL"] = (
        f"postgresql://{server.username or 'postgres'}@127.0.0.1:{bouncer_port}/{args.database}"
    )
    if args.redis_url is None:
        env["WREN_REDIS_URL"] = _redis_cluster(run_dir, state)
        env["WREN_REDIS_CLUSTER"] = "true"
    else:
        env["WREN_REDIS_URL"] = args.redis_url
    bouncer.wait_listening(bouncer_port, timeout=10)

    ports = {f"wren{n + 1}": local.free_port() for n in range(args.instances)}
    instances = []
    for name, port in ports.items():
        process = local.instance(name, port, run_dir, args.wren, env, workers=args.workers)
        process.start()
        state.add(name, "instance", _pid(process), process.command)
        instances.append(process)
    port = args.port or local.free_port()
    proxy = local.haproxy(port, ports, run_dir)
    proxy.start()
    state.add(proxy.name, "front", _pid(proxy), proxy.command)
    state.ports.update(haproxy=port, **ports)
    state.data["url"] = f"http://127.0.0.1:{port}/graphql"
    state.write()
    proxy.wait_listening(port, timeout=10)
    for process, instance_port in zip(instances, ports.values(), strict=True):
        process.wait_listening(instance_port)
        local.wait_haproxy(run_dir, process.name, "UP", process=proxy)


def _pid(process: local.Process) -> int:
    assert process.pid is not None
    return process.pid


def _postgres(run_dir: Path, state: State) -> tuple[int, int]:
    """A primary and its streaming replica under the run directory: their ports."""
    from deploy.postgres import StreamingPair

    pair = StreamingPair(run_dir / "postgres")
    try:
        pair.start()
    except BaseException:
        pair.stop()
        raise
    pids = pair.pids()
    state.add("postgres-primary", "primary", pids["primary"])
    state.add("postgres-replica", "replica", pids["replica"])
    return pair.primary_port, pair.replica_port


def _redis_cluster(run_dir: Path, state: State) -> str:
    """A Redis Cluster of three masters under the run directory: a URL of one node."""
    from deploy.redis import LocalCluster

    cluster = LocalCluster(masters=3, replicas=0, directory=run_dir / "redis")
    try:
        asyncio.run(cluster.start())
    except BaseException:
        cluster.stop()
        raise
    for node in cluster.nodes:
        assert node.pid is not None
        state.add(f"redis-{node.port}", "redis", node.pid)
        state.ports[f"redis-{node.port}"] = node.port
    return cluster.url


async def _create_database(pg: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{pg}/postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _role(name: str, entry: dict[str, object]) -> str:
    # A state file written before roles were recorded: instances and what fronts them.
    return str(entry.get("role") or ("instance" if name.startswith("wren") else "front"))


def down(run_dir: Path, timeout: float = 30) -> int:
    """Stop what `up` started, in STOP_ORDER; SIGKILL what outlives `timeout`."""
    state = _load(run_dir)
    if state is None:
        print(f"nothing recorded in {run_dir}")
        return 0
    processes: dict[str, dict[str, object]] = state["processes"]  # type: ignore[assignment]
    alive = _running(processes)
    order = []
    for role in STOP_ORDER:
        group = [name for name in alive if _role(name, processes[name]) == role]
        for name in group:
            os.kill(alive[name], STOP_SIGNAL.get(role, signal.SIGTERM))
        deadline = time.monotonic() + timeout
        while any(local.pid_alive(alive[n]) for n in group) and time.monotonic() < deadline:
            time.sleep(0.1)
        for name in group:
            if local.pid_alive(alive[name]) and _runs(alive[name], processes[name]["command"]):
                os.kill(alive[name], signal.SIGKILL)
        order += group
    (run_dir / STATE).unlink()
    print(f"down: stopped {', '.join(order) or 'nothing (none was running)'}")
    return 0


def status(run_dir: Path) -> int:
    """Print what runs and how HAProxy sees the instances; 1 when nothing is up."""
    state = _load(run_dir)
    if state is None:
        print("down")
        return 1
    processes: dict[str, dict[str, object]] = state["processes"]  # type: ignore[assignment]
    ports: dict[str, int] = state["ports"]  # type: ignore[assignment]
    alive = _running(processes)
    print(f"{state['url']}: {len(alive)} of {len(processes)} processes running")
    for name, entry in processes.items():
        port = ports.get(name) or ports.get(name.removeprefix("postgres-"))
        where = f" on {port}" if port else ""
        shown = "running" if name in alive else "not running"
        print(f"  {name} ({_role(name, entry)}){where}: pid {entry['pid']} {shown}")
    if "haproxy" in alive:
        for name, seen in sorted(local.haproxy_states(run_dir).items()):
            print(f"  HAProxy sees {name}: {seen}")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
