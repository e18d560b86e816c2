"""Three `wren serve` processes behind a real HAProxy, on the test database and Redis.

The instances share the run's throwaway database and the machine's Redis, under a cache
namespace of their own (their cache keys and event channels are theirs alone). HAProxy
checks each one's /readyz and balances round robin; the tests talk to HAProxy or to one
instance directly. Every process is started here and stopped by its pid.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from deploy import local
from tests.conftest import REDIS_URL, drop_keys, require
from tests.integration import world
from wren.cache.store import CacheStore
from wren.settings import Settings

NAMES = ("wren1", "wren2", "wren3")
# Longer than HAProxy needs to take a failing instance out (deploy/local.py).
DRAIN = local.drain_needed() + 1.0
SHUTDOWN_TIMEOUT = 10.0


@dataclass
class Cluster:
    """The running topology: HAProxy in front of named instances."""

    directory: Path
    port: int
    ports: dict[str, int]
    instances: dict[str, local.Process]
    haproxy: local.Process
    env: dict[str, str]
    namespace: str

    @property
    def url(self) -> str:
        """/graphql through HAProxy."""
        return f"http://127.0.0.1:{self.port}/graphql"

    def url_of(self, name: str) -> str:
        """/graphql of one instance, directly."""
        return f"http://127.0.0.1:{self.ports[name]}/graphql"

    def start(self, name: str) -> None:
        """Start an instance (again) on its port; return once HAProxy sends it traffic."""
        process = local.instance(name, self.ports[name], self.directory, wren_command(), self.env)
        process.start()
        self.instances[name] = process
        process.wait_listening(self.ports[name])
        local.wait_haproxy(self.directory, name, "UP", process=self.haproxy)

    def terminate(self, name: str) -> int | None:
        """SIGTERM one instance and wait for it to end: its exit status."""
        process = self.instances[name]
        process.signal(signal.SIGTERM)
        return process.wait(DRAIN + SHUTDOWN_TIMEOUT + 20)

    def restart(self, name: str) -> None:
        """What a rolling restart does to one instance: stop it gracefully, start it."""
        status = self.terminate(name)
        assert status is not None, f"{name} did not stop after SIGTERM"
        self.start(name)

    def log(self, name: str) -> str:
        """What a process wrote so far."""
        return (self.directory / f"{name}.log").read_text(errors="replace")


def wren_command() -> str:
    """The `wren` console script of the environment running the tests."""
    return str(Path(sys.executable).parent / "wren")


def instance_env(database_url: str, namespace: str) -> dict[str, str]:
    """The settings of an instance under test: the run's database and Redis, drain on."""
    return {
        "WREN_DATABASE_URL": database_url,
        "WREN_REDIS_URL": REDIS_URL,
        "WREN_CACHE_NAMESPACE": namespace,
        # PostgreSQL's connections are shared with the rest of the run.
        "WREN_POOL_SIZE": "4",
        # As in tests/conftest.py: one slow call on a busy machine opens no breaker.
        "WREN_REDIS_TIMEOUT": "2.0",
        "WREN_SHUTDOWN_DRAIN": str(DRAIN),
        "WREN_SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
        # A body still arriving when the shutdown timeout ends is cut off by the shutdown,
        # not refused by the body timeout first (test_rolling_restart waits for that).
        "WREN_BODY_TIMEOUT": str(DRAIN + SHUTDOWN_TIMEOUT + 30),
        "WREN_LOG_LEVEL": "info",
        "WREN_ENVIRONMENT": "development",
    }


@pytest.fixture(scope="session")
def cluster(database_url: str) -> Iterator[Cluster]:
    """HAProxy and three instances, started once for the tests that ask for them."""
    require("haproxy")
    directory = Path(tempfile.mkdtemp(prefix="wren-cluster-"))
    namespace = f"wren-cluster-{uuid.uuid4().hex[:10]}"
    env = instance_env(database_url, namespace)
    ports = {name: local.free_port() for name in NAMES}
    port = local.free_port()
    proxy = local.haproxy(port, ports, directory)
    cluster = Cluster(directory, port, ports, {}, proxy, env, namespace)
    proxy.start()
    try:
        proxy.wait_listening(port, timeout=10)
        # Started together (their imports take a while), then waited for in turn.
        for name in NAMES:
            process = local.instance(name, ports[name], directory, wren_command(), env)
            process.start()
            cluster.instances[name] = process
        for name in NAMES:
            cluster.instances[name].wait_listening(ports[name])
            local.wait_haproxy(directory, name, "UP", process=proxy)
        yield cluster
    finally:
        for process in cluster.instances.values():
            process.stop()
        proxy.stop()
        asyncio.run(drop_keys(REDIS_URL, namespace))
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def small_world(database_url: str) -> None:
    """The hand-made world of tests/integration/world.py, in the database."""
    await world.build(database_url)


@pytest.fixture(autouse=True)
async def _fresh_cache(request: pytest.FixtureRequest) -> None:
    """The instances' cache starts empty, as the tables do (tests/conftest.py)."""
    if "cluster" in request.fixturenames:
        cluster: Cluster = request.getfixturevalue("cluster")
        redis = Redis.from_url(REDIS_URL)
        store = CacheStore(redis, Settings(_env_file=None, cache_namespace=cluster.namespace))  # type: ignore[call-arg]
        try:
            assert await store.bump_epoch()
        finally:
            await store.aclose()
            await redis.aclose()
