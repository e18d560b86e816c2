"""Restarting instances loses nothing: SIGTERM drains, finishes in flight, closes 1001.

`test_sigterm_*` follow one instance through its shutdown step by step (wren.shutdown);
the rolling restart restarts every instance in turn, as a deployment does, under a
steady load through HAProxy, and counts the requests that failed: none may.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from deploy import local
from tests.cluster.conftest import DRAIN, NAMES, SHUTDOWN_TIMEOUT, Cluster
from tests.conftest import operation
from tests.http.test_subscriptions import POST_CREATED, bearer, subscriber
from tests.integration.world import pid
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

TIMELINE = operation("Timeline")
LIKE = "mutation($id: ID!) { likePost(postId: $id) { likeCount } }"
UNLIKE = "mutation($id: ID!) { unlikePost(postId: $id) { likeCount } }"
CREATE_POST = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
# The load: a few clients at once, each request answered before the next is sent.
CLIENTS = 4
MAX_REQUESTS = 20_000
DEADLINE = 240.0


def request_bytes(port: int, body: bytes) -> tuple[bytes, bytes]:
    """A POST /graphql cut in two: everything but the body's last byte, and that byte."""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body[:-1], body[-1:]


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


async def test_sigterm_drains_then_finishes_in_flight_and_closes_websockets_with_1001(
    cluster: Cluster, settings: Settings
) -> None:
    name = NAMES[-1]
    port = cluster.ports[name]
    url = cluster.url_of(name)
    base = url.removesuffix("/graphql")
    body = orjson.dumps({"query": '{ userByHandle(handle: "alice") { handle } }'})
    start, last_byte = request_bytes(port, body)
    async with (
        subscriber(url.replace("http://", "ws://")) as sub,
        httpx.AsyncClient(base_url=base, timeout=10) as client,
    ):
        await sub.init()
        await sub.subscribe(POST_CREATED, {})
        # A request in flight: its body still one byte short when SIGTERM arrives.
        in_flight = socket.create_connection(("127.0.0.1", port))
        in_flight.sendall(start)
        assert (await client.get("/readyz")).status_code == 200
        cluster.instances[name].signal(signal.SIGTERM)

        # 1. Draining: unready at once, and still serving, each response closing its
        # connection.
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
        answer = await client.post(
            "/graphql", content=body, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200
        assert answer.json()["data"] == {"userByHandle": {"handle": "alice"}}
        assert answer.headers["connection"] == "close"
        assert (await client.get("/healthz")).status_code == 200
        # HAProxy's health check takes it out.
        await asyncio.to_thread(local.wait_haproxy, cluster.directory, name, "DOWN")

        # 2-3. The drain over, the instance stops accepting and closes WebSockets with 1001.
        closed = await _closed(sub)
        assert closed.rcvd is not None
        assert closed.rcvd.code == 1001
        assert not await asyncio.to_thread(_accepts, port)

        # 4. The request in flight is still answered.
        in_flight.sendall(last_byte)
        in_flight.settimeout(SHUTDOWN_TIMEOUT)
        response = await asyncio.to_thread(read_response, in_flight)
        in_flight.close()
    assert response.startswith(b"HTTP/1.1 200 ")
    assert b'{"data":{"userByHandle":{"handle":"alice"}}' in response
    assert b"connection: close" in response.lower()
    assert await asyncio.to_thread(cluster.instances[name].wait, 30) is not None
    await asyncio.to_thread(cluster.start, name)


async def _closed(sub: Any) -> ConnectionClosed:
    """Wait for the server to close a subscriber's connection; how it closed it."""
    while True:
        try:
            await sub.receive(within=DRAIN + 10)
        except ConnectionClosed as closed:
            return closed


def _accepts(port: int) -> bool:
    """Whether the port accepts a connection now (a refused one: False)."""
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                pass
        except OSError:
            return False
        time.sleep(0.05)
    return True


async def test_sigterm_cancels_what_is_still_running_after_the_shutdown_timeout(
    cluster: Cluster,
) -> None:
    name = NAMES[-1]
    port = cluster.ports[name]
    body = orjson.dumps({"query": "{ __typename }"})
    start, _ = request_bytes(port, body)
    in_flight = socket.create_connection(("127.0.0.1", port))
    try:
        in_flight.sendall(start)
        status = await asyncio.to_thread(cluster.terminate, name)
        # It stopped by itself, and the request that never completed was cut off
        # (uvicorn answers a cancelled request 500 when it had not started its response).
        assert status is not None
        in_flight.settimeout(5)
        response = await asyncio.to_thread(read_response, in_flight)
        assert response == b"" or response.startswith(b"HTTP/1.1 500 ")
    finally:
        in_flight.close()
    assert "timeout graceful shutdown exceeded" in cluster.log(name)
    await asyncio.to_thread(cluster.start, name)


@dataclass
class Load:
    """Clients sending requests through HAProxy until told to stop, counting outcomes."""

    url: str
    settings: Settings
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    answered: int = 0
    failures: list[str] = field(default_factory=list)
    closes: list[int | None] = field(default_factory=list)

    def requests(self, client: int) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
        """The cycle one client goes through: reads, likes and unlikes, a new post."""
        handle = ("alice", "bob", "carol", "dave")[client % 4]
        headers = bearer(self.settings, handle)
        post = 4 if handle != "carol" else 1
        return [
            (TIMELINE, {"first": 5}, {}),
            (LIKE, {"id": pid(post)}, headers),
            (TIMELINE, {"first": 2}, headers),
            (UNLIKE, {"id": pid(post)}, headers),
            (CREATE_POST, {"i": {"title": f"Load {client}", "body": "Text."}}, headers),
        ]

    async def client(self, number: int, deadline: float) -> None:
        """One client: a request at a time, bounded by count and time."""
        cycle = self.requests(number)
        async with httpx.AsyncClient(timeout=30) as http:
            sent = 0
            while not self.stop.is_set() and self.answered < MAX_REQUESTS:
                if time.monotonic() > deadline:
                    self.failures.append("the load ran past its deadline")
                    return
                query, variables, headers = cycle[sent % len(cycle)]
                sent += 1
                try:
                    response = await http.post(
                        self.url, json={"query": query, "variables": variables}, headers=headers
                    )
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                body = response.json() if response.content else {}
                if response.status_code != 200 or "errors" in body or not body.get("data"):
                    self.failures.append(f"{response.status_code}: {response.text[:300]}")
                self.answered += 1

    async def subscriber(self, deadline: float) -> None:
        """A subscriber through HAProxy that reconnects whenever its connection closes."""
        ws_url = self.url.replace("http://", "ws://")
        while not self.stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                try:
                    async with subscriber(ws_url) as sub:
                        await sub.init()
                        await sub.subscribe(POST_CREATED, {})
                        while not self.stop.is_set():
                            with contextlib.suppress(TimeoutError):
                                await sub.receive(within=0.5)
                except ConnectionClosed as closed:
                    self.closes.append(closed.rcvd.code if closed.rcvd else None)


async def test_a_rolling_restart_under_load_fails_no_request(
    cluster: Cluster, settings: Settings
) -> None:
    load = Load(cluster.url, settings)
    deadline = time.monotonic() + DEADLINE
    tasks = [asyncio.create_task(load.client(n, deadline)) for n in range(CLIENTS)]
    tasks.append(asyncio.create_task(load.subscriber(deadline)))
    answered = []
    try:
        await asyncio.sleep(1)
        for name in NAMES:
            before = load.answered
            await asyncio.to_thread(cluster.restart, name)
            answered.append(load.answered - before)
        await asyncio.sleep(1)
    finally:
        load.stop.set()
        await asyncio.gather(*tasks)
    assert load.failures == []
    # Requests were answered while each instance restarted, and the subscriber's
    # connection was closed with 1001 each time its instance went (then reconnected).
    assert all(count > 0 for count in answered), answered
    assert load.closes, "the subscriber's instance never restarted"
    assert set(load.closes) == {1001}
