"""Redis beyond one node, on free loopback ports of this machine: a Redis Cluster of three
masters (with a replica each, so that a master can fail over, or none) and a master with
a replica watched by three Sentinels. For the tests (tests/integration/
test_redis_topologies.py), `scripts/cluster` and the benchmarks. Every process runs in a
session of its own and is stopped by its pid."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from deploy import local
from deploy.local import free_port

# Seconds a node may stay silent before the others declare it failed; a replica is
# elected within about two of these.
NODE_TIMEOUT_MS = 1000
SENTINEL_DOWN_AFTER_MS = 1000
_START_TIMEOUT = 30.0


def _bus_port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (10000 above it) is free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and _bus_port_free(port + 10000):
            return port


class RedisProcess:
    """One redis-server (or redis-sentinel) in the foreground, in a directory of its own."""

    def __init__(
        self, directory: Path, config: str, *, program: str = "redis-server", port: int = 0
    ) -> None:
        self.port = port or free_port()
        self.directory = directory / str(self.port)
        self.directory.mkdir(parents=True)
        self.config = self.directory / "redis.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.directory}\n"
            'save ""\nappendonly no\ndaemonize no\n' + config.format(port=self.port)
        )
        self.program = program
        self.process: local.Process | None = None

    @property
    def url(self) -> str:
        """The URL of this one process."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def alive(self) -> bool:
        """Whether it still runs."""
        return self.process is not None and self.process.alive()

    @property
    def pid(self) -> int | None:
        """Its process id, once spawned."""
        return self.process.pid if self.process is not None else None

    def client(self) -> Redis:
        """A plain client of this one process."""
        return Redis(host="127.0.0.1", port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def spawn(self) -> None:
        command = [self.program, str(self.config)]
        self.process = local.Process(self.program, command, self.directory / "log")
        self.process.start()

    async def answering(self) -> None:
        """Wait until the process answers PING."""
        client = self.client()
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while True:
                try:
                    if await client.ping():
                        return
                except (OSError, RedisError):
                    pass
                if not self.alive or time.monotonic() > deadline:
                    log = (self.directory / "log").read_text(errors="replace")[-500:]
                    raise RuntimeError(f"{self.program} on {self.port} did not start:\n{log}")
                await asyncio.sleep(0.02)
        finally:
            await client.aclose()

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.process is not None:
            self.process.signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None


async def _info(process: RedisProcess, section: str) -> dict[str, object]:
    client = process.client()
    try:
        info: dict[str, object] = await client.info(section)
        return info
    finally:
        await client.aclose()


async def _until(
    check: Callable[[], Awaitable[bool]], what: str, within: float = _START_TIMEOUT
) -> None:
    """Poll an async predicate until it holds."""
    deadline = time.monotonic() + within
    while True:
        try:
            if await check():
                return
        except (OSError, RedisError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting: {what}")
        await asyncio.sleep(0.05)


class LocalCluster:
    """Masters (three) with replicas (one each) made into a Redis Cluster by redis-cli, in
    `directory` (a temporary one by default, removed by `stop`)."""

    def __init__(self, masters: int = 3, replicas: int = 1, directory: Path | None = None) -> None:
        self.size = masters * (1 + replicas)
        self.replicas = replicas
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="wren-redis-cluster-"))
        else:
            directory.mkdir(parents=True)
        self.directory = directory
        self.nodes = [self._new_node() for _ in range(self.size)]

    def _new_node(self) -> RedisProcess:
        return RedisProcess(
            self.directory,
            "cluster-enabled yes\ncluster-config-file nodes.conf\n"
            f"cluster-node-timeout {NODE_TIMEOUT_MS}\n",
            port=cluster_port(),
        )

    @property
    def url(self) -> str:
        """One node: the app finds the others from it."""
        return self.nodes[0].url

    def node(self, port: int) -> RedisProcess:
        """The node on `port`."""
        return next(node for node in self.nodes if node.port == port)

    async def start(self) -> None:
        """Start the nodes and make them a cluster; every slot is served when this returns."""
        local.executable("redis-server")
        cli = local.executable("redis-cli", "redis-tools")
        for node in self.nodes:
            node.spawn()
        for index, node in enumerate(self.nodes):
            for attempt in range(3):
                try:
                    await node.answering()
                    break
                except RuntimeError:
                    # Its port (or its bus port, 10000 above) was taken meanwhile by
                    # another process of this shared machine: another port.
                    node.stop()
                    if attempt == 2:
                        raise
                    node = self.nodes[index] = self._new_node()
                    node.spawn()
        create = await asyncio.create_subprocess_exec(
            cli,
            "--cluster",
            "create",
            *(f"127.0.0.1:{node.port}" for node in self.nodes),
            "--cluster-replicas",
            str(self.replicas),
            "--cluster-yes",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await create.communicate()
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{output.decode()}")
        await self.healthy()

    async def healthy(self) -> None:
        """Wait until every live node sees every slot served and its replicas in sync."""

        async def ok() -> bool:
            for node in self.nodes:
                if not node.alive:
                    continue
                if (await _cluster_info(node))["cluster_state"] != "ok":
                    return False
                replication = await _info(node, "replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
            return True

        await _until(ok, "the cluster to be healthy")

    async def masters(self) -> list[int]:
        """Ports of the live masters that serve slots, as the cluster sees them now."""
        node = next(node for node in self.nodes if node.alive)
        client = node.client()
        try:
            # redis-py parses the reply: {"host:port": {"flags": ..., "slots": ...}}
            nodes = await client.execute_command("CLUSTER NODES")  # type: ignore[no-untyped-call]
        finally:
            await client.aclose()
        ports = []
        for address, entry in nodes.items():
            flags = entry["flags"].split(",")
            serving = "master" in flags and "fail" not in flags and "fail?" not in flags
            if serving and entry["connected"] and entry["slots"]:
                ports.append(int(address.rsplit(":", 1)[1]))
        assert ports, nodes
        return sorted(ports)

    def stop(self) -> None:
        """Stop every node and remove the directory."""
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _cluster_info(node: RedisProcess) -> dict[str, str]:
    client = node.client()
    try:
        raw = await client.execute_command("CLUSTER INFO")  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
    if isinstance(raw, dict):
        return {str(name): str(value) for name, value in raw.items()}
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


class LocalSentinels:
    """A master, its replica, and three Sentinels watching them as `master_name`."""

    master_name = "wren-test"

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="wren-redis-sentinel-"))
        self.master = RedisProcess(self.directory, "")
        self.replica = RedisProcess(self.directory, f"replicaof 127.0.0.1 {self.master.port}\n")
        self.sentinels: list[RedisProcess] = []

    @property
    def servers(self) -> list[RedisProcess]:
        return [self.master, self.replica]

    @property
    def addresses(self) -> str:
        """WREN_REDIS_SENTINELS for these Sentinels."""
        return ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)

    async def start(self) -> None:
        """Start the master, its replica and the Sentinels; a failover can be agreed on
        when this returns."""
        local.executable("redis-server")
        program = local.executable("redis-sentinel")
        for server in self.servers:
            server.spawn()
        for server in self.servers:
            await server.answering()
        name = self.master_name
        self.sentinels = [
            RedisProcess(
                self.directory,
                f"sentinel monitor {name} 127.0.0.1 {self.master.port} 2\n"
                f"sentinel down-after-milliseconds {name} {SENTINEL_DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {name} 5000\n"
                f"sentinel parallel-syncs {name} 1\n",
                program=program,
            )
            for _ in range(3)
        ]
        for sentinel in self.sentinels:
            # Sentinel rewrites its configuration file, and refuses settings it does not know.
            sentinel.config.write_text(
                sentinel.config.read_text().replace('save ""\nappendonly no\n', "")
            )
            sentinel.spawn()
        for sentinel in self.sentinels:
            await sentinel.answering()
        await self.healthy()

    async def current_master(self) -> int:
        """The port the Sentinels name as the master now."""
        client = next(s for s in self.sentinels if s.alive).client()
        try:
            address = await client.sentinel_get_master_addr_by_name(self.master_name)
            _, port = cast("tuple[str, int]", address)
        finally:
            await client.aclose()
        return int(port)

    def server(self, port: int) -> RedisProcess:
        return next(server for server in self.servers if server.port == port)

    async def healthy(self) -> None:
        """Wait until each Sentinel knows the replica and the two other Sentinels, and the
        replica is in sync: only then can a failover be agreed on and carried out."""

        name = self.master_name

        async def ok() -> bool:
            replication = await _info(self.replica, "replication")
            if replication.get("master_link_status") != "up":
                return False
            for sentinel in self.sentinels:
                client = sentinel.client()
                try:
                    replicas = cast("list[object]", await client.sentinel_slaves(self.master_name))
                    others = cast("list[object]", await client.sentinel_sentinels(name))
                finally:
                    await client.aclose()
                if len(replicas) < 1 or len(others) < len(self.sentinels) - 1:
                    return False
            return True

        await _until(ok, "the Sentinels to know each other")

    def stop(self) -> None:
        """Stop every process and remove the directory."""
        for process in [*self.sentinels, *self.servers]:
            process.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
