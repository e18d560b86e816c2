"""wren.http.protocol: the same bytes on the wire as uvicorn's httptools protocol, in one
write per response."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from wren.http.protocol import HttpProtocol

DEFAULTS = [(b"date", b"Thu, 03 Dec 2026 10:00:00 GMT"), (b"server", b"uvicorn")]
GET = b"GET /x HTTP/1.1\r\nhost: t\r\n\r\n"
HEAD = b"HEAD /x HTTP/1.1\r\nhost: t\r\n\r\n"


class Transport(asyncio.Transport):
    """Records what is written, as the socket would receive it."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def app_sending(*messages: dict[str, Any]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        for message in messages:
            await send(message)

    return app


async def exchange(
    protocol_class: type[HttpToolsProtocol], app: Any, *requests: bytes
) -> Transport:
    """Feed `requests` to a connection of `protocol_class` serving `app`."""
    config = Config(app, log_level="critical", lifespan="off")
    state = ServerState()
    state.default_headers = list(DEFAULTS)
    protocol = protocol_class(config, state, {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        for _ in range(5):
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


def start(status: int = 200, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http.response.start", "status": status, "headers": list(headers)}


def body(data: bytes, *, more: bool = False) -> dict[str, Any]:
    return {"type": "http.response.body", "body": data, "more_body": more}


LENGTH = (b"content-length", b"5")
CASES = {
    "content-length": (app_sending(start(200, LENGTH), body(b"hello")), GET),
    "mixed-case names": (app_sending(start(200, (b"Content-Length", b"5")), body(b"hello")), GET),
    "chunked": (app_sending(start(200), body(b"hel", more=True), body(b"lo")), GET),
    "head": (app_sending(start(200, LENGTH), body(b"")), HEAD),
    "204": (app_sending(start(204), body(b"")), GET),
    "connection close": (
        app_sending(start(200, LENGTH, (b"connection", b"close")), body(b"hello")),
        GET,
    ),
    "tab in a value": (app_sending(start(200, LENGTH, (b"x-a", b"a\tb")), body(b"hello")), GET),
    "bad name": (app_sending(start(200, (b"x a", b"1")), body(b"")), GET),
    "bad value": (app_sending(start(200, (b"x-a", b"1\r\nx-b: 2")), body(b"")), GET),
    "trace header": (
        app_sending(
            start(200, LENGTH, (b"traceresponse", b"00-" + b"ab" * 16 + b"-" + b"cd" * 8 + b"-01")),
            body(b"hello"),
        ),
        GET,
    ),
    "bad trace header": (
        app_sending(start(200, (b"TraceResponse", b"00-1\r\nx-b: 2")), body(b"")),
        GET,
    ),
    "trace header with a tab": (
        app_sending(start(200, LENGTH, (b"traceresponse", b"00\t1")), body(b"hello")),
        GET,
    ),
    "short body": (app_sending(start(200, LENGTH), body(b"hell")), GET),
    "nothing sent": (app_sending(), GET),
    "http/1.0": (app_sending(start(200, LENGTH), body(b"hello")), b"GET /x HTTP/1.0\r\n\r\n"),
}


@pytest.mark.parametrize("case", CASES)
async def test_the_same_bytes_as_uvicorn(case: str) -> None:
    app, request = CASES[case]
    theirs = await exchange(HttpToolsProtocol, app, request)
    ours = await exchange(HttpProtocol, app, request)
    assert b"".join(ours.writes) == b"".join(theirs.writes)
    assert ours.closed == theirs.closed


async def test_keep_alive_requests_answered_in_order() -> None:
    app = app_sending(start(200, LENGTH), body(b"hello"))
    theirs = await exchange(HttpToolsProtocol, app, GET, GET + GET)
    ours = await exchange(HttpProtocol, app, GET, GET + GET)
    assert b"".join(ours.writes) == b"".join(theirs.writes)
    assert b"".join(ours.writes).count(b"HTTP/1.1 200 OK") == 3


async def test_a_response_without_its_body_closes_the_connection() -> None:
    """The app returned after the head: uvicorn had written the head before closing, here
    nothing is (either way the client sees a connection closed mid-response)."""
    transport = await exchange(HttpProtocol, app_sending(start(200, LENGTH)), GET)
    assert transport.writes == []
    assert transport.closed


async def test_a_response_is_one_write() -> None:
    transport = await exchange(
        HttpProtocol, app_sending(start(200, LENGTH, (b"x-request-id", b"1")), body(b"hello")), GET
    )
    [written] = transport.writes
    assert written.startswith(b"HTTP/1.1 200 OK\r\ndate: ")
    assert written.endswith(b"\r\n\r\nhello")


async def test_a_chunked_response_sends_its_head_with_the_first_chunk() -> None:
    transport = await exchange(
        HttpProtocol, app_sending(start(200), body(b"hel", more=True), body(b"lo")), GET
    )
    assert len(transport.writes) == 2
    assert transport.writes[0].endswith(b"transfer-encoding: chunked\r\n\r\n3\r\nhel\r\n")


async def connection(app: Any) -> tuple[HttpProtocol, Transport]:
    config = Config(app, log_level="critical", lifespan="off", timeout_keep_alive=5)
    state = ServerState()
    state.default_headers = list(DEFAULTS)
    protocol = HttpProtocol(config, state, {}, asyncio.get_running_loop())
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport


async def answer(protocol: HttpToolsProtocol, request: bytes) -> None:
    protocol.data_received(request)
    for _ in range(5):
        await asyncio.sleep(0)


async def test_one_keep_alive_timer_for_many_requests() -> None:
    protocol, _transport = await connection(app_sending(start(200, LENGTH), body(b"hello")))
    await answer(protocol, GET)
    timer = protocol.timeout_keep_alive_task
    assert timer is not None
    await answer(protocol, GET)
    await answer(protocol, GET)
    assert protocol.timeout_keep_alive_task is timer
    assert not timer.cancelled()
    protocol.connection_lost(None)
    assert timer.cancelled()


async def test_the_keep_alive_timer_closes_a_connection_idle_for_the_timeout() -> None:
    protocol, transport = await connection(app_sending(start(200, LENGTH), body(b"hello")))
    await answer(protocol, GET)
    assert protocol.idle_since is not None
    # Fired while the connection has been idle for the whole timeout: closed.
    protocol.idle_since -= 5
    protocol.timeout_keep_alive_handler()
    assert transport.closed
    assert protocol.timeout_keep_alive_task is None


async def test_the_keep_alive_timer_waits_for_the_rest_of_the_timeout() -> None:
    protocol, transport = await connection(app_sending(start(200, LENGTH), body(b"hello")))
    await answer(protocol, GET)
    first = protocol.timeout_keep_alive_task
    assert first is not None
    first.cancel()
    # Fired early (a later response made the connection idle again): re-armed, open.
    protocol.timeout_keep_alive_handler()
    assert not transport.closed
    again = protocol.timeout_keep_alive_task
    assert again is not None
    assert again is not first
    again.cancel()
    # Fired while a request is under way: lapses, and its response arms a new one.
    protocol.idle_since = None
    protocol.timeout_keep_alive_handler()
    assert protocol.timeout_keep_alive_task is None
    await answer(protocol, GET)
    assert protocol.timeout_keep_alive_task is not None
    assert not transport.closed
    protocol.connection_lost(None)


def recording(scopes: list[Any]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append((scope["client"], scope["scheme"]))
        await send(start(200, LENGTH))
        await send(body(b"hello"))

    return app


class FromPeer(Transport):
    peer = ("127.0.0.1", 5000)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": self.peer}.get(name, default)


FORWARDED = (
    b"GET /x HTTP/1.1\r\nhost: t\r\n"
    b"x-forwarded-for: 203.0.113.9, 127.0.0.1\r\nx-forwarded-proto: https\r\n\r\n"
)


@pytest.mark.parametrize("peer", ["127.0.0.1", "198.51.100.7"])
async def test_forwarded_headers_as_uvicorns_middleware_applies_them(peer: str) -> None:
    seen: dict[type[HttpToolsProtocol], list[Any]] = {}
    for protocol_class in (HttpToolsProtocol, HttpProtocol):
        scopes: list[Any] = []
        config = Config(recording(scopes), log_level="critical", lifespan="off")
        protocol = protocol_class(config, ServerState(), {}, asyncio.get_running_loop())
        transport = FromPeer()
        transport.peer = (peer, 5000)
        protocol.connection_made(transport)
        await answer(protocol, FORWARDED)
        await answer(protocol, GET)
        protocol.connection_lost(None)
        seen[protocol_class] = scopes
    assert seen[HttpProtocol] == seen[HttpToolsProtocol]
    trusted = peer == "127.0.0.1"
    assert seen[HttpProtocol][0] == (
        (("203.0.113.9", 0), "https") if trusted else ((peer, 5000), "http")
    )
