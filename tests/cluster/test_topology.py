"""`scripts/cluster up` brings up the whole topology, and `down` stops every process of it.

`up` runs as an operator runs it (deploy/cluster.py), on free ports in a directory of the
test's own: a PostgreSQL primary and its streaming replica, PgBouncer, a three-master
Redis Cluster, three instances and HAProxy. Everything below goes through HAProxy.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from deploy import local
from tests.cluster.conftest import wren_command
from tests.conftest import missing_tool

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("haproxy", "pgbouncer", "redis-server", "redis-cli", "initdb")
SIGN_UP = (
    'mutation { signUp(input: {handle: "topo", displayName: "Topo",'
    ' password: "topo-password"}) { token } }'
)
CREATE_POST = 'mutation { createPost(input: {title: "Fresh", body: "b"}) { id } }'
VIEWER_POSTS = "{ viewer { posts(first: 0) { totalCount } } }"
TOPO_POSTS = '{ userByHandle(handle: "topo") { posts(first: 0) { totalCount } } }'
TOPO_STATS = '{ userByHandle(handle: "topo") { stats { postCount } } }'


def cluster_command(*args: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """`scripts/cluster ARGS` with this environment's Python and `wren`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WREN_")}
    # The replay is paused below for a few seconds: the replica stays within the lag.
    env["WREN_REPLICA_MAX_LAG"] = "30"
    return subprocess.run(
        [sys.executable, "-m", "deploy.cluster", *args, "--run-dir", str(run_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def run_dir() -> Iterator[Path]:
    """The topology's directory; whatever is still up at the end is brought down."""
    for tool in TOOLS:
        try:
            if tool == "initdb":
                from deploy.postgres import _bindir

                _bindir()
            else:
                local.executable(tool)
        except local.ToolsMissing as missing:
            missing_tool(missing)
    directory = Path(tempfile.mkdtemp(prefix="wren-topology-"))
    try:
        yield directory
    finally:
        if (directory / "cluster.json").exists():
            cluster_command("down", run_dir=directory)
        shutil.rmtree(directory, ignore_errors=True)


async def gql(client: httpx.AsyncClient, url: str, query: str, token: str | None = None) -> Any:
    """One operation through HAProxy; its data (no errors allowed)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(url, json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def on(port: int, sql: str) -> Any:
    """One value of `sql` on the topology's PostgreSQL server at `port`."""
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/wren")
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def caught_up(primary: int, replica: int) -> None:
    """Wait until the replica has replayed what the primary has written."""
    target = await on(primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while not await on(replica, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
        assert time.monotonic() < deadline, "the replica did not catch up"
        await asyncio.sleep(0.05)


async def keys_on(ports: list[int], pattern: str) -> int:
    """How many keys match `pattern` on these Redis nodes together."""
    found = 0
    for port in ports:
        client = Redis(host="127.0.0.1", port=port)
        try:
            found += len([key async for key in client.scan_iter(match=pattern)])
        finally:
            await client.aclose()
    return found


async def test_up_starts_the_whole_topology_and_down_stops_every_process(run_dir: Path) -> None:
    started = cluster_command("up", "--port", "0", "--wren", wren_command(), run_dir=run_dir)
    assert started.returncode == 0, started.stdout + started.stderr
    state = json.loads((run_dir / "cluster.json").read_text())
    url, ports, processes = state["url"], state["ports"], state["processes"]
    roles = sorted(entry["role"] for entry in processes.values())
    assert roles == ["front"] * 2 + ["instance"] * 3 + ["primary"] + ["redis"] * 3 + ["replica"]
    primary, replica = ports["primary"], ports["replica"]
    assert {primary, replica}.isdisjoint({5432})
    redis_ports = [ports[name] for name, e in processes.items() if e["role"] == "redis"]
    assert 6379 not in redis_ports
    shown = cluster_command("status", run_dir=run_dir)
    assert shown.returncode == 0
    assert f"{len(processes)} of {len(processes)} processes running" in shown.stdout
    assert shown.stdout.count(": UP") == 3

    # The replica streams from the primary.
    assert await on(replica, "SELECT pg_is_in_recovery()") is True
    assert await on(primary, "SELECT count(*) FROM pg_stat_replication") == 1

    async with httpx.AsyncClient(timeout=30) as client:
        token = (await gql(client, url, SIGN_UP))["signUp"]["token"]
        await caught_up(primary, replica)
        # Every instance (round robin) has checked its replica and reads from it.
        for _ in range(30):
            assert (await gql(client, url, TOPO_POSTS))["userByHandle"]["posts"] == {
                "totalCount": 0
            }
        await on(replica, "SELECT pg_wal_replay_pause()")
        try:
            await gql(client, url, CREATE_POST, token)
            for _ in range(3):
                # Read-your-writes, on every instance: the writer reads the primary...
                mine = await gql(client, url, VIEWER_POSTS, token)
                assert mine["viewer"]["posts"] == {"totalCount": 1}
                # ...while anonymous queries read the replica, which lacks the post.
                theirs = await gql(client, url, TOPO_POSTS)
                assert theirs["userByHandle"]["posts"] == {"totalCount": 0}
        finally:
            await on(replica, "SELECT pg_wal_replay_resume()")

        # The cache is on the Redis Cluster: the entry a read computes is stored there.
        before = await keys_on(redis_ports, "*stats*")
        stats = await gql(client, url, TOPO_STATS, token)
        assert stats["userByHandle"]["stats"] == {"postCount": 1}
        assert await keys_on(redis_ports, "*stats*") > before

    stopped = cluster_command("down", run_dir=run_dir)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not (run_dir / "cluster.json").exists()
    still = [name for name, entry in processes.items() if local.pid_alive(entry["pid"])]
    assert still == []
    assert not any(local.port_open(port) for port in [*ports.values(), *redis_ports])
