"""WebSocket at /graphql: subscriptions over graphql-transport-ws (and legacy graphql-ws).

Strawberry runs the protocols (connection_init, ping/pong, subscribe, complete, the
init timeout and the per-connection limit) and hands every operation to the pipeline,
which checks and runs it as it does for HTTP (wren._compat.protocol_schema is the
hand-off). Only subscriptions run here. A connection gets one Context, built like a
request's; the token may come in the handshake's `Authorization` header or in
connection_init's payload (browsers cannot set headers on a WebSocket), and a bad one
closes the connection (4403) before anything runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types.unset import UNSET, UnsetType

from wren import _compat
from wren.context import Context
from wren.pipeline import new_request_id
from wren.pipeline.params import Params

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection, Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket
    from strawberry.types.execution import ExecutionResult

    from wren.cache.client import RedisClient
    from wren.pipeline import Pipeline
    from wren.settings import Settings

ContextGetter = Callable[["HTTPConnection"], Awaitable[Context]]


def _token(params: Any) -> str | None:
    """The Authorization value of a connection_init payload, in any case, if any."""
    if not isinstance(params, dict):
        return None
    for name, value in params.items():
        if isinstance(name, str) and name.lower() == "authorization":
            return value if isinstance(value, str) else ""
    return None


class SubscriptionEndpoint(GraphQL[Context, None]):
    """The WebSocket side of /graphql (the HTTP side is wren.http.view)."""

    def __init__(
        self,
        pipeline: Pipeline,
        settings: Settings,
        context_getter: ContextGetter,
        redis_getter: Callable[[HTTPConnection], RedisClient],
    ) -> None:
        super().__init__(
            _compat.protocol_schema(self._stream),
            graphql_ide=None,
            keep_alive=settings.ws_keepalive > 0,
            keep_alive_interval=settings.ws_keepalive,
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout),
            max_subscriptions_per_connection=settings.max_subscriptions,
        )
        self.pipeline = pipeline
        self.settings = settings
        self.context_getter = context_getter
        self.redis_getter = redis_getter

    def _stream(
        self,
        query: str,
        *,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        context: Context,
    ) -> AsyncIterator[ExecutionResult]:
        """One operation of a connection, through the pipeline."""
        params = Params(query, operation_name, variables, None)
        connection = cast("HTTPConnection", context.request)
        return self.pipeline.stream(
            params, context, new_request_id(), lambda: self.redis_getter(connection)
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        """The connection's context, from the handshake's headers."""
        context = await self.context_getter(request)
        context.request = request
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Authenticate with connection_init's payload; refuse a bad token."""
        token = _token(context.connection_params)
        if token is not None:
            credentials = await context.accounts.authenticate(token)
            context.viewer_id = credentials.viewer_id
            context.claims = credentials.claims
            context.auth_error = credentials.error
        if context.auth_error is not None:
            raise ConnectionRejectionError(
                {"message": context.auth_error.message, "extensions": context.auth_error.extensions}
            )
        # An acknowledgement without a payload.
        return cast("UnsetType", UNSET)
