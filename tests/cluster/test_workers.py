"""`wren serve --workers N` drains on SIGTERM as a one-worker process does (wren.supervisor).

A real two-worker instance on the run's database and Redis, under a bounded load, with
requests in flight and subscribers on each worker (found from /proc: which process holds
the server side of each connection), then SIGTERM to the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from deploy import local
from tests.cluster.conftest import DRAIN, SHUTDOWN_TIMEOUT, instance_env, wren_command
from tests.cluster.test_rolling_restart import read_response, request_bytes
from tests.conftest import REDIS_URL, drop_keys, operation
from tests.http.test_subscriptions import POST_CREATED, Subscriber, subscriber

pytestmark = pytest.mark.usefixtures("small_world")

WORKERS = 2
TIMELINE = operation("Timeline")
# The load: a few clients, each request answered before the next; bounded by count and time.
CLIENTS = 3
MAX_REQUESTS = 2_000
# A connection opened for a worker lands wherever the kernel hands it: at most this many
# tries to have one on each worker.
TRIES = 40
# What uvicorn logs once a worker's lifespan has started.
STARTED = "Application startup complete."


def workers_of(pid: int) -> list[int]:
    """The worker processes of a supervisor (uvicorn spawns them with multiprocessing)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def server_side(client: socket.socket, workers: list[int]) -> int | None:
    """The worker holding the server side of a client's loopback connection, if known yet."""
    port = client.getsockname()[1]
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[2].split(":")[1], 16) == port:
            inodes.add(fields[9])
    for worker in workers:
        fd_dir = Path(f"/proc/{worker}/fd")
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                if os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes:
                    return worker
    return None


async def held_by(client: socket.socket, workers: list[int]) -> int:
    """Wait until a worker has accepted the connection; which one."""
    for _ in range(100):
        found = server_side(client, workers)
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError("no worker accepted the connection")


@pytest.fixture
def instance(database_url: str) -> Iterator[tuple[local.Process, int]]:
    """`wren serve --workers 2` on a free port, stopped by its pid at the end."""
    directory = Path(tempfile.mkdtemp(prefix="wren-workers-"))
    namespace = f"wren-workers-{uuid.uuid4().hex[:10]}"
    port = local.free_port()
    env = {**instance_env(database_url, namespace), "WREN_MAX_CONNECTIONS": "8"}
    process = local.instance("workers", port, directory, wren_command(), env, workers=WORKERS)
    process.start()
    try:
        process.wait_listening(port)
        # The supervisor listens before its workers have started: wait for every one,
        # or the kernel hands every connection to the first.
        deadline = time.monotonic() + 60
        while process.log.read_text(errors="replace").count(STARTED) < WORKERS:
            assert process.alive(), "the instance stopped while starting"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        yield process, port
    finally:
        process.stop()
        asyncio.run(drop_keys(REDIS_URL, namespace))
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def subscribers_on_each(
    url: str, workers: list[int], stack: contextlib.AsyncExitStack
) -> AsyncIterator[list[Subscriber]]:
    """A subscriber on every worker (more connections are opened until each has one)."""
    found: dict[int, Subscriber] = {}
    for _ in range(TRIES):
        sub = await stack.enter_async_context(subscriber(url))
        await sub.init()
        await sub.subscribe(POST_CREATED, {})
        transport = sub.connection.transport
        sock = transport.get_extra_info("socket")
        found.setdefault(await held_by(sock, workers), sub)
        if len(found) == len(workers):
            break
    assert len(found) == len(workers), "the kernel never gave a worker a connection"
    yield list(found.values())


async def in_flight_on_each(port: int, workers: list[int], body: bytes) -> list[socket.socket]:
    """A request on every worker whose body is one byte short."""
    start, _ = request_bytes(port, body)
    found: dict[int, socket.socket] = {}
    opened = []
    for _ in range(TRIES):
        sock = socket.create_connection(("127.0.0.1", port))
        opened.append(sock)
        sock.sendall(start)
        found.setdefault(await held_by(sock, workers), sock)
        if len(found) == len(workers):
            break
    assert len(found) == len(workers), "the kernel never gave a worker a connection"
    return opened


async def load(url: str, stop: asyncio.Event, failures: list[str], answered: list[int]) -> None:
    """One client: Timeline reads on fresh or reused connections until told to stop."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(timeout=30) as http:
        while not stop.is_set() and sum(answered) < MAX_REQUESTS:
            if time.monotonic() > deadline:
                failures.append("the load ran past its deadline")
                return
            try:
                response = await http.post(url, json={"query": TIMELINE, "variables": {"first": 3}})
            except httpx.HTTPError as error:
                failures.append(f"{type(error).__name__}: {error}")
                continue
            if response.status_code != 200 or "errors" in response.json():
                failures.append(f"{response.status_code}: {response.text[:300]}")
            answered.append(1)


async def test_sigterm_drains_every_worker_then_the_supervisor_exits_0(
    instance: tuple[local.Process, int],
) -> None:
    process, port = instance
    assert process.pid is not None
    url = f"http://127.0.0.1:{port}/graphql"
    workers = workers_of(process.pid)
    assert len(workers) == WORKERS
    body = orjson.dumps({"query": '{ userByHandle(handle: "alice") { handle } }'})
    _, last_byte = request_bytes(port, body)
    stop = asyncio.Event()
    failures: list[str] = []
    answered: list[int] = []
    async with contextlib.AsyncExitStack() as stack:
        subs = await stack.enter_async_context(
            subscribers_on_each(url.replace("http://", "ws://"), workers, stack)
        )
        pending = await in_flight_on_each(port, workers, body)
        for sock in pending:
            stack.callback(sock.close)
        clients = [asyncio.create_task(load(url, stop, failures, answered)) for _ in range(CLIENTS)]
        await asyncio.sleep(0.5)
        before = sum(answered)
        process.signal(signal.SIGTERM)

        # Draining: once the supervisor has passed SIGTERM on (it looks at its signals
        # every 0.5 s), every worker answers /readyz 503 (each probe on a connection of its
        # own, which the kernel hands to either worker), and still serves the load.
        async with httpx.AsyncClient(timeout=10) as probe:
            readyz = f"http://127.0.0.1:{port}/readyz"
            for _ in range(50):
                if (await probe.get(readyz, headers={"connection": "close"})).status_code == 503:
                    break
                await asyncio.sleep(0.05)
            for _ in range(8):
                ready = await probe.get(readyz, headers={"connection": "close"})
                assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        await asyncio.sleep(DRAIN / 3)
        # A balancer has stopped sending by now; the load stops as it would.
        stop.set()
        await asyncio.gather(*clients)
        during = sum(answered) - before

        # The drain over, every subscriber is closed with 1001 and the port refuses.
        codes = []
        for sub in subs:
            while True:
                try:
                    await sub.receive(within=DRAIN + 10)
                except ConnectionClosed as closed:
                    codes.append(closed.rcvd.code if closed.rcvd else None)
                    break
        deadline = time.monotonic() + DRAIN + 10
        while local.port_open(port):
            assert time.monotonic() < deadline, "the port still accepts after the drain"
            await asyncio.sleep(0.05)

        # The requests in flight are still answered.
        responses = []
        for sock in pending:
            sock.sendall(last_byte)
            sock.settimeout(SHUTDOWN_TIMEOUT)
            responses.append(await asyncio.to_thread(read_response, sock))
    assert failures == []
    assert during > 0
    assert codes == [1001] * len(subs)
    for response in responses:
        assert response.startswith(b"HTTP/1.1 200 "), response[:200]
        assert b'{"data":{"userByHandle":{"handle":"alice"}}' in response
    assert await asyncio.to_thread(process.wait, DRAIN + SHUTDOWN_TIMEOUT + 10) == 0
    log = process.log.read_text(errors="replace")
    assert log.count("SIGTERM: draining") == WORKERS
    assert "killed" not in log
