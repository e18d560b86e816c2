"""The one execution pipeline, shared by every transport (HTTP GET and POST, batches, both
WebSocket protocols):

    document   persisted or trusted lookup, then the cached parse (documents.py)
    checks     operation type for the transport, validation with the limits (limits.py),
               cost (cost.py), credentials, variables
    execution  the compiled fast path or graphql-core, inside the schema's extensions,
               within the deadline (execution.py)
    errors     masking of everything unexpected, with the request id (errors.py)

Transports only map their framing and statuses: HTTP (wren.http.view) turns a `Result`
into a status and a body, WebSocket (wren.http.websocket) into protocol messages.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import orjson
from graphql import ExecutionResult, FieldNode, GraphQLError, OperationType
from strawberry.types.execution import ExecutionResult as StreamResult
from strawberry.types.execution import PreExecutionError

from wren import _compat
from wren.cache.responses import digest
from wren.cache.tags import compile_tags
from wren.db import inflight
from wren.db.routing import RoutedDatabase
from wren.errors import RateLimited, WrenError
from wren.observability import CURRENT, Telemetry, error_codes
from wren.pipeline.checks import compile_checks
from wren.pipeline.cost import QUERY_TOO_COSTLY
from wren.pipeline.deadline import Deadline
from wren.pipeline.documents import Document, Documents
from wren.pipeline.errors import RequestRefused, limit_error, mask
from wren.pipeline.execution import Executor
from wren.pipeline.persisted import PersistedDocuments
from wren.pipeline.ratelimit import RateLimiter, Throttle

if TYPE_CHECKING:
    import strawberry
    from graphql import DocumentNode, OperationDefinitionNode
    from graphql.execution import VariableValues

    from wren.cache.client import RedisClient
    from wren.cache.responses import ResponseCache
    from wren.context import Context
    from wren.pipeline.cache_control import CachePolicy
    from wren.pipeline.params import Params
    from wren.settings import Settings

log = logging.getLogger("wren.pipeline")

BAD_REQUEST = "BAD_REQUEST"
BAD_USER_INPUT = "BAD_USER_INPUT"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
# Variable coercion stops after this many errors (one more says it stopped).
MAX_VARIABLE_ERRORS = 50
DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
SUBSCRIPTIONS_ONLY = (
    "Only subscriptions are served over WebSocket; send queries and mutations with POST /graphql."
)


def new_request_id() -> str:
    """128 random bits in hex: a UUID4's form, without a system call per request.

    A request id names a request in logs and masked errors; it must be unique, not
    unguessable. `random` is seeded from the system's entropy at start-up and again in
    every forked worker.
    """
    return f"{random.getrandbits(128):032x}"


class Transport(Enum):
    """Where an operation came from: what it may be, and how it is refused."""

    GET = "GET"
    POST = "POST"
    WEBSOCKET = "WEBSOCKET"


class Stage(Enum):
    """How far an operation got: what a transport's status depends on."""

    DOCUMENT = "document"  # refused before running: parse, validation, limits, variables
    REQUEST = "request"  # refused for who sent it (credentials): nothing ran
    EXECUTED = "executed"  # ran (perhaps with field errors, perhaps unavailable)
    DEADLINE = "deadline"  # ran out of time and was cancelled


@dataclass(slots=True)
class Result:
    """One operation's answer, before a transport frames it."""

    stage: Stage
    errors: list[GraphQLError] = field(default_factory=list)
    data: dict[str, Any] | None = None
    extensions: dict[str, Any] = field(default_factory=dict)
    # SQL statements the operation sent and the time spent in them (counted with metrics
    # only: db/inflight.py).
    statements: int = 0
    db_seconds: float = 0.0


@dataclass(slots=True)
class Prepared:
    """A checked operation, ready to run."""

    text: str
    document: DocumentNode
    operation: OperationDefinitionNode
    raw_variables: dict[str, Any] | None
    variables: VariableValues
    extensions: dict[str, Any]
    # How long HTTP caches (GET requests) and the response cache may keep the answer.
    cache_policy: CachePolicy | None = None
    # The cached document it came from (what the response cache's tag plan is kept with).
    source: Document | None = None


# What a request that is not traced executes within (nullcontext is reusable).
_UNTRACED = contextlib.nullcontext()

# Root fields that a client with no valid token calls to get one.
CREDENTIAL_MUTATIONS = frozenset({"signUp", "logIn", "refreshToken"})


def _obtains_credentials(operation: OperationDefinitionNode) -> bool:
    """A mutation selecting only signUp, logIn and refreshToken (and __typename)."""
    if operation.operation is not OperationType.MUTATION:
        return False
    selections = operation.selection_set.selections
    return all(
        isinstance(node, FieldNode)
        and (node.name.value in CREDENTIAL_MUTATIONS or node.name.value == "__typename")
        for node in selections
    ) and any(
        isinstance(node, FieldNode) and node.name.value in CREDENTIAL_MUTATIONS
        for node in selections
    )


def _operation_error(document: DocumentNode, name: str | None) -> GraphQLError:
    """graphql-core's words for a document whose operation cannot be chosen."""
    operations = [d for d in document.definitions if hasattr(d, "operation")]
    if name is not None:
        message = f"Unknown operation named '{name}'."
    elif operations:
        message = "Must provide operation name if query contains multiple operations."
    else:
        message = "Must provide an operation."
    return GraphQLError(message, extensions={"code": BAD_REQUEST})


class Pipeline:
    """Documents, checks, execution and masking for one schema (one per process)."""

    def __init__(
        self, schema: strawberry.Schema, settings: Settings, telemetry: Telemetry | None = None
    ) -> None:
        self.settings = settings
        self.telemetry = telemetry or Telemetry(settings, environ={})
        self.schema = _compat.core_schema(schema)
        self.documents = Documents(self.schema, settings, self.telemetry)
        self.hide_suggestions = not settings.suggestions_enabled
        self.persisted = PersistedDocuments(settings)
        self.limiter = RateLimiter(settings) if settings.rate_limit_points else None
        self.executor = Executor(
            schema,
            compiled=settings.compiled_queries,
            hide_suggestions=not settings.suggestions_enabled,
        )
        self.subscriptions = 0  # running now, in this process
        self.deadline = Deadline(settings.execution_timeout)
        # `extensions.cache`: what the cache did for the request (never in production).
        self.cache_report = settings.cache_report and not settings.production
        self.response_cache = settings.response_cache
        # extensions.responseCache says whether an answer was stored (never in production).
        self.report_hits = not settings.production

    def refused(self, result: Result) -> None:
        """Observe an operation refused before it ran (RequestRefused: the transport's)."""
        if self.telemetry.observing and result.errors:
            self.telemetry.errors(error_codes(result.errors))

    def ran(self, prepared: Prepared, result: Result, started: float, request_id: str) -> None:
        """Observe an operation that ran, once: timed from `started` (perf_counter)."""
        telemetry = self.telemetry
        seconds = time.perf_counter() - started
        # Traced only, a request sampled out has no Record: nothing to record but the slow line.
        if (
            telemetry.metrics is not None
            or CURRENT.get() is not None
            or (seconds > telemetry.slow_seconds)
        ):
            telemetry.ran(prepared.operation, prepared.extensions, result, seconds, request_id)

    async def prepare(
        self, params: Params, transport: Transport, redis: Callable[[], RedisClient]
    ) -> Prepared | Result:
        """The checked operation, or the Result that refuses it (RequestRefused for
        refusals that carry a status of their own)."""
        text = self.persisted.plain(params)
        persist_as = None
        if text is None:
            text, persist_as = await self.persisted.document(params, redis)
        if len(text) > self.settings.max_body_bytes:
            # HTTP bodies are bounded before they are read; a WebSocket message is not.
            error = limit_error(
                f"The document is longer than {self.settings.max_body_bytes} characters.",
                PAYLOAD_TOO_LARGE,
                limit=self.settings.max_body_bytes,
            )
            return Result(Stage.DOCUMENT, [error])
        document = self.documents.get(text)
        if document.syntax_error is not None:
            return Result(Stage.DOCUMENT, [document.syntax_error])
        operation = document.operation(params.operation_name)
        if operation is not None:
            self._check_transport(operation.operation, transport)
        errors = self.documents.validate(document)
        if errors:
            return Result(Stage.DOCUMENT, errors)
        assert document.node is not None
        if operation is None:
            return Result(Stage.DOCUMENT, [_operation_error(document.node, params.operation_name)])
        if persist_as is not None:
            await self.persisted.store(redis(), persist_as, text)
        checks = self.documents.compiled(document, operation, compile_checks)
        cost = checks.cost.evaluate(params.variables)
        limit = self.settings.max_cost
        extensions: dict[str, Any] = {"cost": {"estimated": cost, "limit": limit}}
        coerced = checks.variables.coerce(
            self.schema,
            params.variables,
            max_errors=MAX_VARIABLE_ERRORS,
            hide_suggestions=self.hide_suggestions,
        )
        if isinstance(coerced, list):
            for error in coerced:
                error.extensions = {"code": BAD_USER_INPUT, **(error.extensions or {})}
            return Result(Stage.DOCUMENT, coerced, extensions=extensions)
        # Arguments before the cost: `first: 100000` is an argument out of its range.
        errors = checks.arguments.check(coerced, hide_suggestions=self.hide_suggestions)
        if errors:
            return Result(Stage.DOCUMENT, errors, extensions=extensions)
        if cost is None or cost > limit:
            error = limit_error(
                f"The operation's estimated cost exceeds the limit of {limit}.",
                QUERY_TOO_COSTLY,
                cost=cost,
                limit=limit,
            )
            return Result(Stage.DOCUMENT, [error], extensions=extensions)
        policy = None
        if transport is Transport.GET or self.response_cache:
            policy = checks.policy
        return Prepared(
            text, document.node, operation, params.variables, coerced, extensions, policy, document
        )

    def _stream_errors(self, errors: list[GraphQLError]) -> None:
        if self.telemetry.observing:
            self.telemetry.errors(error_codes(errors))

    @staticmethod
    def _check_transport(kind: OperationType, transport: Transport) -> None:
        if transport is Transport.WEBSOCKET:
            if kind is not OperationType.SUBSCRIPTION:
                raise RequestRefused(400, SUBSCRIPTIONS_ONLY, BAD_REQUEST)
            return
        if kind is OperationType.QUERY:
            return
        if transport is Transport.GET:
            raise RequestRefused(
                405,
                f"A {kind.value} cannot be sent with GET; use POST.",
                "METHOD_NOT_ALLOWED",
                {"allow": "POST"},
            )
        if kind is OperationType.SUBSCRIPTION:
            raise RequestRefused(
                400, "Subscriptions are served over WebSocket at /graphql.", BAD_REQUEST
            )

    @staticmethod
    def _credentials(
        context: Context, operation: OperationDefinitionNode | None = None
    ) -> Result | None:
        """A request with a bad token is refused as a whole, running nothing.

        A stale token must not quietly turn into an anonymous request: the client would
        see its writes refused, or its feed empty, without learning that it must log in.
        The mutations that get a client a new token (signUp, logIn, refreshToken) run
        whatever token is attached: an expired or ended one is exactly why they are sent.
        """
        error: WrenError | None = getattr(context, "auth_error", None)
        if error is None or (operation is not None and _obtains_credentials(operation)):
            return None
        return Result(Stage.REQUEST, [GraphQLError(error.message, extensions=error.extensions)])

    async def admit(
        self, prepared: Prepared, subject: str, redis: Callable[[], RedisClient]
    ) -> Throttle | None:
        """Take the operation's cost from its sender's rate limit, before anything runs.

        None when there is no rate limit, or Redis did not answer and the limiter fails
        open; RequestRefused (429, or 503 when failing closed) when it may not run now.
        """
        if self.limiter is None:
            return None
        cost: int = prepared.extensions["cost"]["estimated"]
        throttle = await self.limiter.take(redis(), subject, cost)
        if throttle is None:
            if self.limiter.fail_closed:
                raise RequestRefused(
                    503, "Rate limits cannot be checked now; retry shortly.", "SERVICE_UNAVAILABLE"
                )
            return None
        if not throttle.allowed:
            limited = RateLimited(
                f"Rate limit exceeded: this operation costs {throttle.cost} points and "
                f"{int(throttle.available)} of {throttle.capacity} are left "
                f"(restored at {throttle.restore_rate:g} per second).",
                retry_after=throttle.retry_after,
            )
            headers = {"retry-after": str(throttle.retry_after), **throttle.headers()}
            raise RequestRefused.of(429, limited, headers)
        prepared.extensions["cost"]["throttleStatus"] = throttle.status()
        return throttle

    async def execute(
        self, prepared: Prepared, context: Context, request_id: str, *, cached: bool = True
    ) -> Result:
        """Run a query or mutation within the deadline, or answer it from the response
        cache (unless not `cached`); errors masked.

        One coroutine, not one per step: each level of an await chain is created, and
        passed through at every resumption, on every request.
        """
        context.request_id = request_id
        refused = self._credentials(context, prepared.operation)
        if refused is not None:
            refused.extensions = prepared.extensions
            return refused
        if cached and self.response_cache:
            policy = prepared.cache_policy
            responses = context.responses
            if (
                responses is not None
                and policy is not None
                and policy.max_age > 0
                and (responses.private or not policy.private)
            ):
                return await self._cached(prepared, context, request_id, responses, policy)
        if prepared.operation.operation is OperationType.MUTATION:
            # What a mutation checks, and what its answer shows, is read where it is
            # written: the primary (a replica may not have the rows yet).
            db = getattr(context, "db", None)
            if isinstance(db, RoutedDatabase):
                db.use_primary()
        timeout = self.settings.execution_timeout
        span = (
            self.telemetry.span("graphql.execute")
            if self.telemetry.tracer and CURRENT.get() is not None
            else None
        )
        with inflight.tracking() as reads, span or _UNTRACED:
            try:
                with self.deadline():
                    outcome = await self.executor.run(
                        prepared.text,
                        prepared.document,
                        prepared.operation,
                        context,
                        prepared.raw_variables,
                        prepared.variables,
                    )
            except TimeoutError:
                inflight.cancel(reads)
                log.warning("request %s: deadline passed, reads cancelled", request_id)
                error = GraphQLError(
                    f"The operation did not finish within {timeout:g} s and was cancelled.",
                    extensions={"code": DEADLINE_EXCEEDED},
                )
                return Result(
                    Stage.DEADLINE,
                    [error],
                    None,
                    prepared.extensions,
                    reads.statements,
                    reads.seconds,
                )
        errors = mask(outcome.errors or [], request_id)
        extensions = {**prepared.extensions, **outcome.extensions}
        if self.cache_report:
            # Here, not in a schema extension: Strawberry's extension machinery around
            # execution took 6 % of the CPU of a `{ __typename }` in production, where the
            # report is off (bench/results/http-path.md).
            extensions["cache"] = context.cache.counters.as_dict()
        if outcome.data is None and errors and all(e.path is None for e in errors):
            # Refused by an extension before anything ran (its errors have no path).
            return Result(Stage.REQUEST, errors, None, extensions, reads.statements, reads.seconds)
        return Result(
            Stage.EXECUTED, errors, outcome.data, extensions, reads.statements, reads.seconds
        )

    async def _cached(
        self,
        prepared: Prepared,
        context: Context,
        request_id: str,
        responses: ResponseCache,
        policy: CachePolicy,
    ) -> Result:
        """A cacheable query's answer: stored, shared with a concurrent request, or run and
        stored (without errors only)."""
        viewer = None
        if policy.private:
            viewer = "-" if context.viewer_id is None else str(context.viewer_id)
        operation = prepared.operation
        name = digest(
            prepared.text,
            operation.name.value if operation.name else None,
            prepared.raw_variables,
            viewer,
        )
        ran: Result | None = None

        async def compute() -> tuple[bytes, list[str]] | None:
            nonlocal ran
            ran = await self.execute(prepared, context, request_id, cached=False)
            if ran.stage is not Stage.EXECUTED or ran.errors or ran.data is None:
                return None
            assert prepared.source is not None
            plan = self.documents.compiled(prepared.source, operation, compile_tags)
            tags = plan.tags(ran.data)
            return orjson.dumps(ran.data), tags

        raw, hit = await responses.answer(name, responses.ttl(policy.max_age), compute)
        result = ran
        if result is None:
            assert raw is not None
            # The stored bytes go into the response body as they are.
            data: Any = orjson.Fragment(raw)
            result = Result(Stage.EXECUTED, data=data, extensions=dict(prepared.extensions))
        if self.report_hits:
            result.extensions = {**result.extensions, "responseCache": {"hit": hit}}
        return result

    async def stream(
        self,
        params: Params,
        context: Context,
        request_id: str,
        redis: Callable[[], RedisClient],
    ) -> AsyncIterator[StreamResult]:
        """A subscription's results, as Strawberry's protocol handlers take them; a refusal
        is one PreExecutionError (the protocols send it as their `error` message)."""
        try:
            prepared = await self.prepare(params, Transport.WEBSOCKET, redis)
        except RequestRefused as refusal:
            self._stream_errors([refusal.error()])
            yield PreExecutionError(data=None, errors=[refusal.error()])
            return
        if isinstance(prepared, Result):
            self._stream_errors(prepared.errors)
            yield PreExecutionError(data=None, errors=prepared.errors)
            return
        refused = self._credentials(context)
        if refused is not None:
            self._stream_errors(refused.errors)
            yield PreExecutionError(data=None, errors=refused.errors)
            return
        source = await self.executor.subscribe(
            prepared.document, prepared.operation, context, prepared.raw_variables
        )
        if isinstance(source, ExecutionResult):
            refusals = mask(source.errors or [], request_id)
            self._stream_errors(refusals)
            yield PreExecutionError(data=None, errors=refusals)
            return
        self.subscriptions += 1
        try:
            async for result in source:
                errors = mask(result.errors, request_id) if result.errors else None
                if errors:
                    self._stream_errors(errors)
                yield StreamResult(result.data, errors)
        except Exception as failure:  # a source that ended with an error (lagging, say)
            [error] = mask([GraphQLError(str(failure), original_error=failure)], request_id)
            self._stream_errors([error])
            yield StreamResult(None, [error])
        finally:
            self.subscriptions -= 1
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
