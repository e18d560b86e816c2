"""Stopping an instance without losing a request: drain, stop accepting, finish, close.

On SIGTERM `wren serve` goes through these steps, in order:

1. **Drain** for `WREN_SHUTDOWN_DRAIN` seconds: `/readyz` answers 503 (`"draining"`) so
   that a load balancer's health check takes the instance out, while every request that
   still arrives is served as usual. Responses then carry `Connection: close`: the
   balancer opens a new connection for its next request instead of reusing one that is
   about to close, so no request is ever sent on a connection the instance is closing.
2. **Stop accepting**: the listening socket closes, and so do idle keep-alive connections.
   By now the balancer sends nothing here, and a connection it still tries is refused
   (never half-read), which it retries on another server.
3. **Close WebSockets** with 1001 (going away), so that clients reconnect, through the
   balancer, to another instance. uvicorn alone would send 1012 (service restart).
4. **Finish** the requests in flight within `WREN_SHUTDOWN_TIMEOUT` seconds (uvicorn's
   `timeout_graceful_shutdown`); those still running then are cancelled.
5. The lifespan closes the pool and Redis.

A second SIGTERM during the drain, or SIGINT (Ctrl+C), skips the rest of the drain.
uvicorn's own shutdown does steps 2, 4 and 5; `GracefulServer` adds 1 and 3. The app
(its `/readyz`, its middleware, its WebSocket endpoint) and the server share one
`Shutdown`, which the app hands over in its lifespan state (the ASGI way for an app to
give its server something). `wren serve` runs `GracefulServer` with one worker, and in
each worker of `--workers N` (wren.supervisor, which passes the SIGTERM on).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    import socket
    from types import FrameType

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("wren.shutdown")

# The key of the Shutdown in the lifespan state.
STATE_KEY = "wren.shutdown"
GOING_AWAY = 1001


class Shutdown:
    """Where an instance is in its shutdown; what /readyz, responses and WebSockets follow."""

    def __init__(self, drain: float) -> None:
        self.drain = drain
        self.draining = False
        self._websockets: set[Callable[[], Awaitable[bool]]] = set()

    def begin_drain(self) -> None:
        """From now on /readyz fails and responses close their connection."""
        self.draining = True

    async def close_websockets(self) -> int:
        """Close every open WebSocket connection with 1001; how many were closed."""
        closed = 0
        for close in list(self._websockets):
            closed += await close()
        return closed

    def going_away(self, app: ASGIApp) -> GoingAway:
        """The WebSocket app, each of its connections closed with 1001 at shutdown."""
        return GoingAway(app, self._websockets)


class GoingAway:
    """ASGI wrapper of the WebSocket endpoint: its open connections, for the shutdown to close.

    A class, not a function: Starlette's WebSocketRoute takes a function for a session
    handler of its own and an instance for an ASGI app.
    """

    def __init__(self, app: ASGIApp, registry: set[Callable[[], Awaitable[bool]]]) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the connection, registered to be closed with 1001 until it ends."""
        accepted = closed = False

        async def guarded(message: Message) -> None:
            nonlocal accepted, closed
            if closed:
                # Closed by the server: what the protocol handler still sends (its own
                # close, a last event) has nowhere to go.
                return
            if message["type"] == "websocket.accept":
                accepted = True
            elif message["type"] == "websocket.close":
                closed = True
            await send(message)

        async def close() -> bool:
            nonlocal closed
            if not accepted or closed:
                return False
            closed = True
            try:
                await send({"type": "websocket.close", "code": GOING_AWAY, "reason": "shutdown"})
            except Exception:  # the client went first: nothing left to close
                return False
            return True

        self.registry.add(close)
        try:
            await self.app(scope, receive, guarded)
        finally:
            self.registry.discard(close)


class CloseWhileDraining:
    """ASGI middleware: while the instance drains, HTTP responses close their connection."""

    def __init__(self, app: ASGIApp, shutdown: Shutdown) -> None:
        self.app = app
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through; add `Connection: close` to a response started while draining."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        shutdown = self.shutdown

        async def closing(message: Message) -> None:
            # Decided when the response starts: a request that began before the drain
            # and ends during it closes its connection too.
            if message["type"] == "http.response.start" and shutdown.draining:
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)


class GracefulServer(uvicorn.Server):
    """uvicorn's server with a drain after SIGTERM and WebSockets closed with 1001."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.drain_until: float | None = None
        self.drain_announced = False

    @property
    def shutdown_state(self) -> Shutdown | None:
        """The app's Shutdown, once its lifespan has started."""
        lifespan = getattr(self, "lifespan", None)
        state = getattr(lifespan, "state", {})
        found = state.get(STATE_KEY)
        return found if isinstance(found, Shutdown) else None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM while serving starts the drain; anything else stops as uvicorn does."""
        state = self.shutdown_state
        if (
            sig == signal.SIGTERM
            and self.started
            and not self.should_exit
            and self.drain_until is None
            and state is not None
            and state.drain > 0
        ):
            # A signal handler: only flags here, the main loop's tick acts on them.
            self.drain_until = time.monotonic() + state.drain
            state.begin_drain()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        """uvicorn's tick (every 0.1 s), which also ends the drain when it is due."""
        if self.drain_until is not None and not self.should_exit:
            if not self.drain_announced:
                # Logged from the loop, not from the signal handler.
                self.drain_announced = True
                log.info(
                    "SIGTERM: draining for %.1f s (/readyz answers 503, requests are served)",
                    self.drain_until - time.monotonic(),
                )
            if time.monotonic() >= self.drain_until:
                super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, close WebSockets with 1001, then finish as uvicorn does."""
        for server in self.servers:
            server.close()
        state = self.shutdown_state
        if state is not None:
            state.begin_drain()
            closed = await state.close_websockets()
            if closed:
                log.info("closed %d WebSocket connection(s) with 1001 (going away)", closed)
        await super().shutdown(sockets)
