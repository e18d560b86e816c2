"""The /graphql endpoint over HTTP: GraphQL-over-HTTP framing around the pipeline."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wren.errors import WrenError
from wren.http import csrf, graphiql
from wren.http.body import check_content_type, read_body
from wren.http.negotiation import JSON, accepts_html, negotiate
from wren.http.params import decode_body, from_query_string
from wren.http.request import GraphQLRequest
from wren.http.responses import (
    AUTH_STATUS,
    Response,
    document_error_status,
    get_response,
    json_response,
    result_body,
)
from wren.pipeline import Prepared, Result, Transport, new_request_id
from wren.pipeline.deadline import Deadline
from wren.pipeline.errors import RequestRefused, internal_error
from wren.pipeline.params import Params, from_mapping

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Receive, Scope, Send

    from wren.cache.client import RedisClient
    from wren.context import Context
    from wren.pipeline import Pipeline
    from wren.pipeline.cache_control import CachePolicy
    from wren.settings import Settings
    from wren.shutdown import Shutdown

log = logging.getLogger("wren.http")

ContextGetter = Callable[["Request"], Awaitable["Context"]]
RedisGetter = Callable[["Request"], "RedisClient"]

# Domain errors raised while building the context, and their statuses.
_CONTEXT_STATUS = {**AUTH_STATUS, "SERVICE_UNAVAILABLE": 503}


class GraphQLView:
    """Serves GET and POST /graphql (and GraphiQL to browsers when enabled)."""

    def __init__(
        self,
        pipeline: Pipeline,
        settings: Settings,
        context_getter: ContextGetter,
        redis_getter: RedisGetter,
        shutdown: Shutdown | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.context_getter = context_getter
        self.redis_getter = redis_getter
        self.graphiql = settings.graphiql_enabled
        self.telemetry = pipeline.telemetry
        self.body_deadline = Deadline(settings.body_timeout)
        # While the instance drains, responses close their connection (what
        # wren.shutdown.CloseWhileDraining does for the other routes, without its
        # wrapper around `send` on every request).
        self.shutdown = shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as an ASGI app (what WrenApp dispatches /graphql to): every
        failure becomes a GraphQL-shaped response, never a trace."""
        started = time.perf_counter()
        request = GraphQLRequest(scope, receive)
        request_id = new_request_id()
        headers = request.headers
        accept = headers.get("accept")
        media = negotiate(accept)
        telemetry = self.telemetry
        if not telemetry.observing:
            response = await self._respond(request, media, accept, request_id)
        else:
            record = telemetry.begin(request_id, scope["method"], headers)
            if isinstance(record, str):  # sampled out, nothing else observed: its header only
                response = await self._respond(request, media, accept, request_id)
                response.headers["traceresponse"] = record
            else:
                try:
                    response = await self._respond(request, media, accept, request_id)
                except BaseException:  # cancelled: the span ends, its context is left all the same
                    telemetry.finish(record, 500, time.perf_counter() - started)
                    raise
                trace_header = telemetry.finish(
                    record, response.status_code, time.perf_counter() - started
                )
                if trace_header is not None:
                    response.headers["traceresponse"] = trace_header
        response.headers["x-request-id"] = request_id
        # The time this request took in the server, up to its body (browsers' developer
        # tools and the benchmark read it): https://www.w3.org/TR/server-timing/
        elapsed = (time.perf_counter() - started) * 1000
        response.headers["server-timing"] = f"app;dur={elapsed:.2f}"
        if self.shutdown is not None and self.shutdown.draining:
            # Decided when the response starts: a request that began before the drain
            # and ends during it closes its connection too.
            response.headers["connection"] = "close"
        # What Response.__call__ sends, without its coroutine.
        await send(response.start())
        await send({"type": "http.response.body", "body": response.body})

    async def _respond(
        self, request: Request, media: str | None, accept: str | None, request_id: str
    ) -> Response:
        """The response to a GET or POST; a POST (most requests) is read and run here, not
        in a coroutine of its own."""
        try:
            if request.method in {"GET", "HEAD"}:
                if self.graphiql and self._wants_graphiql(request, accept):
                    return graphiql.page()
                response = await self._get(request, media, request_id)
            else:
                check_content_type(request.headers.get("content-type"))
                accepted = self._media(media)
                raw = await read_body(request, self.settings.max_body_bytes, self.body_deadline)
                data = decode_body(raw)
                if isinstance(data, list):
                    response = await self._batch(request, data, accepted, request_id)
                else:
                    params = from_mapping(data)
                    answer = await self._run(request, params, "POST", accepted, request_id, None)
                    response = json_response(answer.body, answer.status, accepted, answer.headers)
        except RequestRefused as refusal:
            self._refused(refusal)
            status = refusal.status or document_error_status(media or JSON)
            response = json_response(
                {"errors": [refusal.formatted()]}, status, media or JSON, refusal.headers
            )
        except Exception:
            log.exception("request %s failed", request_id)
            response = json_response({"errors": [internal_error(request_id)]}, 500, media or JSON)
        if request.method != "POST" and "cache-control" not in response.headers:
            # Refusals and errors are never cached (cacheable answers set their own).
            response.headers["cache-control"] = "no-store"
        return response

    def _refused(self, refusal: RequestRefused) -> None:
        if self.telemetry.observing:
            self.telemetry.errors([refusal.code])

    @staticmethod
    def _wants_graphiql(request: Request, accept: str | None) -> bool:
        params = request.query_params
        return accepts_html(accept) and "query" not in params and "extensions" not in params

    def _media(self, media: str | None) -> str:
        if media is None:
            raise RequestRefused(
                406,
                "Accept `application/graphql-response+json` or `application/json`.",
                "NOT_ACCEPTABLE",
            )
        return media

    async def _get(self, request: Request, media: str | None, request_id: str) -> Response:
        media = self._media(media)
        if self.settings.csrf_require_preflight:
            csrf.check_preflight(request.headers)
        params = from_query_string(request.query_params)
        answer = await self._run(request, params, "GET", media, request_id, None)
        response = get_response(
            answer.body, answer.status, media, answer.policy, request.headers.get("if-none-match")
        )
        response.headers.update(answer.headers)
        return response

    async def _batch(
        self, request: Request, data: list[Any], media: str, request_id: str
    ) -> Response:
        limit = self.settings.max_batch_size
        if limit == 0:
            raise RequestRefused(400, "Batched requests are not accepted.", "BATCHING_DISABLED")
        if not data or len(data) > limit:
            raise RequestRefused(400, f"A batch holds 1 to {limit} operations.", "BATCH_TOO_LARGE")
        batch = [from_mapping(item) for item in data]
        # One context for the whole batch: its operations share loaders and their batching.
        context = await self._context(request)
        results = await asyncio.gather(
            *(self._run_in_batch(request, p, media, request_id, context) for p in batch)
        )
        # The rate limit's headers as the batch leaves it: its last take.
        throttled = [a.headers for a in results if a.headers]
        headers = min(throttled, key=lambda h: int(h["ratelimit-remaining"]), default=None)
        return json_response([answer.body for answer in results], 200, media, headers)

    async def _context(self, request: Request) -> Context:
        try:
            context = await self.context_getter(request)
        except WrenError as error:
            raise RequestRefused(
                _CONTEXT_STATUS.get(error.code, 400), error.message, error.code
            ) from None
        context.request = request
        return context

    async def _run_in_batch(
        self, request: Request, params: Params, media: str, request_id: str, context: Context
    ) -> _Answer:
        """One operation of a batch: a refused one does not sink the others."""
        try:
            return await self._run(request, params, "POST", media, request_id, context)
        except RequestRefused as refusal:
            self._refused(refusal)
            status = refusal.status or document_error_status(media)
            return _Answer(status, {"errors": [refusal.formatted()]})

    async def _run(
        self,
        request: Request,
        params: Params,
        method: str,
        media: str,
        request_id: str,
        context: Context | None,
    ) -> _Answer:
        """One operation, from document text to response body (RequestRefused raised)."""
        transport = Transport.GET if method == "GET" else Transport.POST

        started = time.perf_counter()
        prepared: Prepared | Result = await self.pipeline.prepare(
            params, transport, lambda: self.redis_getter(request)
        )
        policy = None
        headers: dict[str, str] = {}
        if isinstance(prepared, Prepared):
            policy = prepared.cache_policy
            if context is None:
                context = await self._context(request)
            # A refused token runs nothing and costs nothing.
            if self.pipeline.limiter is not None and context.auth_error is None:
                throttle = await self.pipeline.admit(
                    prepared, _subject(request, context), lambda: self.redis_getter(request)
                )
                if throttle is not None:
                    context.rate_limit = throttle
                    headers = throttle.headers()
            result = await self.pipeline.execute(prepared, context, request_id)
            self.pipeline.ran(prepared, result, started, request_id)
        else:
            result = prepared
            self.pipeline.refused(result)
        status, body = result_body(result, media)
        return _Answer(status, body, policy, headers)


@dataclass(slots=True)
class _Answer:
    """One operation's status and body, with what its response's headers depend on."""

    status: int
    body: dict[str, Any]
    policy: CachePolicy | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _subject(request: Request, context: Context) -> str:
    """Whose rate limit an operation takes from: the viewer's, else the client address's
    (behind a proxy, run uvicorn with --proxy-headers so that it is the client's own)."""
    if context.viewer_id is not None:
        return f"viewer:{context.viewer_id}"
    client = request.client
    return f"addr:{client.host if client else 'unknown'}"
