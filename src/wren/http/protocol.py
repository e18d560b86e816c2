"""The HTTP/1.1 protocol `wren serve` runs: uvicorn's httptools protocol, with a cheaper
response.

uvicorn's `RequestResponseCycle.send`, for every response, copies the server's default
headers (date, server) into a new list, runs two regular expressions per header (name and
value), lower-cases each name, and writes the head and the body with two transport writes:
two `send` system calls, and with TCP_NODELAY two TCP segments, for a response that fits
in one. Here the same response is checked and written with:

- the default headers encoded once (they change once a second, when uvicorn replaces
  the list), checked when encoded;
- one search of each regular expression over all of a response's names (joined, since
  the name pattern matches single bytes) and over all its values (joined with a tab,
  which a value may hold): a header is refused exactly when uvicorn refuses it (the
  `traceresponse` value, ASCII letters, digits and dashes when Wren made it, is checked
  for being just that, in C, instead of searched);
- the head kept until the first body message and written with it, in one write (an
  app that returns after the head and no body has its connection closed with nothing
  written, where uvicorn wrote the head first: a broken response either way).

Everything else (the parser, the scope, keep-alive, pipelining, 100-continue, flow
control, chunked bodies, HEAD, the 500 after an exception) is uvicorn's own code, but
for `on_headers_complete`, copied to build this cycle instead of uvicorn's (swapping the
class of the cycle uvicorn made costs more than it saves: CPython 3.11 then keeps the
object's attributes in a dict of its own, slower to read). Bounded in pyproject.toml,
exercised by tests/unit/test_http_protocol.py.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import TYPE_CHECKING, Any

import httptools
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware, _TrustedHosts
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)
from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application, ASGISendEvent, HTTPScope
    from uvicorn.config import Config
    from uvicorn.server import ServerState

_NO_BODY = (204, 304)

# The default headers' list (replaced by uvicorn once a second) and its encoded lines.
_defaults: tuple[object, bytes] = (None, b"")


def _encoded_defaults(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The server's default header lines, encoded once per list."""
    global _defaults
    if _defaults[0] is headers:
        return _defaults[1]
    for name, value in headers:
        if HEADER_RE.search(name):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(value):
            raise RuntimeError("Invalid HTTP header value.")
    block = b"".join(b"%s: %s\r\n" % (name.lower(), value) for name, value in headers)
    _defaults = (headers, block)
    return block


class ResponseCycle(RequestResponseCycle):
    """uvicorn's request/response cycle, with the response head checked in two searches
    and written together with the first body message."""

    # The response's head, until the first body message takes it along.
    head: bytes | None = None

    async def send(self, message: ASGISendEvent) -> None:
        """Send one ASGI message of the response (as uvicorn's `send`)."""
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        if not self.response_started:
            self._start(message)
        elif not self.response_complete:
            self._body(message)
        else:
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}' sent, after response already "
                "completed."
            )

    def _start(self, message: ASGISendEvent) -> None:
        if message["type"] != "http.response.start":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.start', but got '{message['type']}'."
            )
        self.response_started = True
        self.waiting_for_100_continue = False
        status_code: int = message["status"]
        if self.access_log:
            self.access_logger.info(
                '%s - "%s %s HTTP/%s" %d',
                get_client_addr(self.scope),
                self.scope["method"],
                get_path_with_query_string(self.scope),
                self.scope["http_version"],
                status_code,
            )
        content = [STATUS_LINE[status_code], _encoded_defaults(self.default_headers)]
        names: list[bytes] = []
        values: list[bytes] = []
        has_connection_close = False
        for raw_name, value in message.get("headers", ()):
            name = raw_name.lower()
            names.append(name)
            if name == b"content-length":
                if self.chunked_encoding is None:
                    self.expected_content_length = int(value.decode())
                    self.chunked_encoding = False
            elif name == b"transfer-encoding":
                if value.lower() == b"chunked":
                    self.expected_content_length = 0
                    self.chunked_encoding = True
            elif name == b"connection" and b"close" in [
                token.lower().strip() for token in value.split(b",")
            ]:
                self.keep_alive = False
                has_connection_close = True
            elif name == b"traceresponse" and value.replace(b"-", b"").isalnum():
                # ASCII letters, digits and dashes (the trace header is hex and dashes):
                # nothing the search refuses, checked in C at a third of its cost.
                content += (name, b": ", value, b"\r\n")
                continue
            values.append(value)
            content += (name, b": ", value, b"\r\n")
        if HEADER_RE.search(b"".join(names)):
            raise RuntimeError("Invalid HTTP header name.")
        if HEADER_VALUE_RE.search(b"\t".join(values)):
            raise RuntimeError("Invalid HTTP header value.")
        if not self.keep_alive and not has_connection_close:
            content.append(b"connection: close\r\n")
        if (
            self.chunked_encoding is None
            and self.scope["method"] != "HEAD"
            and status_code not in _NO_BODY
        ):
            # Neither content-length nor transfer-encoding given.
            self.chunked_encoding = True
            content.append(b"transfer-encoding: chunked\r\n")
        content.append(b"\r\n")
        self.head = b"".join(content)

    def _body(self, message: ASGISendEvent) -> None:
        if message["type"] != "http.response.body":
            raise RuntimeError(
                f"Expected ASGI message 'http.response.body', but got '{message['type']}'."
            )
        body: bytes = message.get("body", b"")
        more_body: bool = message.get("more_body", False)
        head = self.head
        self.head = None
        if self.scope["method"] == "HEAD":
            self.expected_content_length = 0
            out = b""
        elif self.chunked_encoding:
            out = b"%x\r\n%s\r\n" % (len(body), body) if body else b""
            if not more_body:
                out += b"0\r\n\r\n"
        else:
            if len(body) > self.expected_content_length:
                raise RuntimeError("Response content longer than Content-Length")
            self.expected_content_length -= len(body)
            out = body
        if head is not None:
            out = head + out
        if out:
            self.transport.write(out)
        if not more_body:
            if self.expected_content_length != 0:
                raise RuntimeError("Response content shorter than Content-Length")
            self.response_complete = True
            self.message_event.set()
            if not self.keep_alive:
                self.transport.close()
            self.on_response()


def _apply_forwarded(scope: HTTPScope, trusted: _TrustedHosts) -> None:
    """ProxyHeadersMiddleware's rewrite (uvicorn 0.54) of an HTTP request from a trusted
    proxy: the scheme from X-Forwarded-Proto, the client from X-Forwarded-For."""
    proto: bytes | None = None
    forwarded_for: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-proto":
            proto = value
        elif name == b"x-forwarded-for":
            forwarded_for.append(value)
    if proto is not None:
        scheme = proto.decode("latin1").strip()
        if scheme in {"http", "https", "ws", "wss"}:
            scope["scheme"] = scheme
    if forwarded_for:
        host, port = trusted.get_trusted_client_address(b", ".join(forwarded_for).decode("latin1"))
        if host:
            scope["client"] = (host, port)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol whose requests run in a ResponseCycle, with one
    keep-alive timer per connection.

    uvicorn cancels its keep-alive timer when a request arrives and makes a new one when
    the response completes: a timer made and cancelled per request. Here the timer is
    made when a response leaves the connection idle and none is armed, and when it fires
    it closes the connection if it has been idle for `timeout_keep_alive` seconds since,
    re-arms for the rest of that time if a later response made it idle again, or lapses
    if a request is in progress (the next response arms it): the same timeout.
    """

    # When the last response left the connection idle; None while a request is under way.
    idle_since: float | None = None
    # Whether the peer is a trusted proxy (its X-Forwarded-* headers are applied).
    trusted_peer = False

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        # uvicorn's ProxyHeadersMiddleware (--proxy-headers) rewrites every request's
        # scope in a coroutine of its own, asking whether the peer is trusted each time:
        # the same rewrite is done here, the trust decided once per connection.
        # (WebSockets keep the middleware: their protocol runs config.loaded_app.)
        self.forwarded: _TrustedHosts | None = None
        app = self.app
        if isinstance(app, ProxyHeadersMiddleware):
            self.forwarded = app.trusted_hosts
            self.app = app.app

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """uvicorn's, and whether the peer is a trusted proxy."""
        super().connection_made(transport)
        if self.forwarded is not None:
            self.trusted_peer = (self.client[0] if self.client else None) in self.forwarded

    def _unset_keepalive_if_required(self) -> None:
        """Data arrived (or the connection is closing): no longer idle; the armed timer,
        if any, stays and finds it so."""
        self.idle_since = None

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, and the timer cancelled."""
        super().connection_lost(exc)
        timer = self.timeout_keep_alive_task
        if timer is not None:
            timer.cancel()
            self.timeout_keep_alive_task = None

    def on_response_complete(self) -> None:
        """uvicorn's (0.54), arming the keep-alive timer only when none is."""
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
            return
        self.idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def timeout_keep_alive_handler(self) -> None:
        """Close the connection if idle for the whole timeout, else wait for the rest."""
        self.timeout_keep_alive_task = None
        idle_since = self.idle_since
        if idle_since is None:
            return
        rest = idle_since + self.timeout_keep_alive - self.loop.time()
        if rest > 0:
            self.timeout_keep_alive_task = self.loop.call_later(
                rest, self.timeout_keep_alive_handler
            )
        elif not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        """uvicorn's `on_headers_complete` (0.54), making a ResponseCycle."""
        http_version = self.parser.get_http_version()
        method = self.parser.get_method()
        self.scope["method"] = method.decode("ascii")
        if http_version != "1.1":
            self.scope["http_version"] = http_version
        if self.parser.should_upgrade() and self._should_upgrade():
            return
        parsed_url = httptools.parse_url(self.url)
        raw_path = parsed_url.path
        path = raw_path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        self.scope["path"] = self.root_path + path
        self.scope["raw_path"] = self.root_path.encode("ascii") + raw_path
        self.scope["query_string"] = parsed_url.query or b""
        if self.trusted_peer:
            assert self.forwarded is not None
            _apply_forwarded(self.scope, self.forwarded)
        app: ASGI3Application
        if self.limit_concurrency is not None and (
            len(self.connections) >= self.limit_concurrency
            or len(self.tasks) >= self.limit_concurrency
        ):
            app = service_unavailable
            self.logger.warning("Exceeded concurrency limit.")
        else:
            app = self.app
        existing_cycle = self.cycle
        self.cycle = ResponseCycle(
            scope=self.scope,
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=self.expect_100_continue,
            keep_alive=http_version != "1.0" and self.parser.should_keep_alive(),
            on_response=self.on_response_complete,
        )
        if existing_cycle is None or existing_cycle.response_complete:
            self._start_asgi_task(self.cycle, app)
        else:
            # Pipelined requests wait for the one before.
            self.flow.pause_reading()
            self.pipeline.appendleft((self.cycle, app))
