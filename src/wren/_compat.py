"""Every use of a private Strawberry, SQLAlchemy, asyncpg or uvicorn API, in one place.

Wren runs its own pipeline around Strawberry's schema (document cache, checks, a compiled
fast path) and its reads straight on the pooled asyncpg connection, so it reaches a few
things Strawberry and SQLAlchemy do not publish (graphql-core's own API is public). Each
is wrapped here and exercised by tests/unit/test_compat.py: an upgrade that moves one
breaks that test and this file, not the pipeline or the read path. pyproject.toml bounds
both versions for the same reason.

One more library's internals are used here, the OpenTelemetry OTLP/HTTP exporter's
(`otlp_export`: its export steps around Wren's own encoding of the spans, observability/otlp.py);
it steps aside, to the exporter's own `export`, when they are not the ones it knows, and
tests/unit/test_otlp.py exercises both against a real HTTP receiver. That encoding reads an
SDK span's own attributes and its BoundedAttributes' and BoundedLists' contents
(`span_parts_reader`), and the public properties (`public_span_parts`) for any span or
SDK generation it does not know; tests/unit/test_otlp.py encodes through both. Wren's own
spans (observability/spans.py) take what an SDK tracer gives its spans from the tracer's
fields (`sdk_tracer_parts`) and read a ParentBased sampler's delegate
(`samples_sampled_children`); where those are not the ones known the SDK makes every span,
and tests/unit/test_spans.py compares the two kinds of span field by field.

One module is the exception, by its nature: src/wren/http/protocol.py subclasses
uvicorn's httptools protocol and copies one of its methods, so it is uvicorn's internals
through and through; it is bounded the same way (uvicorn <0.55) and compared byte for
byte with uvicorn's own output by tests/unit/test_http_protocol.py.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_only, greenlet_spawn
from sqlalchemy.util.queue import Empty as QueueEmpty
from sqlalchemy.util.queue import Full as QueueFull
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions.runner import SchemaExtensionsRunner
from uvicorn.supervisors import multiprocess

if TYPE_CHECKING:
    import asyncpg
    import strawberry
    from asyncpg.prepared_stmt import PreparedStatement
    from graphql import GraphQLField, GraphQLSchema
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.sdk.util.instrumentation import InstrumentationInfo, InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status
    from sqlalchemy.pool import Pool, PoolProxiedConnection
    from sqlalchemy.sql.compiler import SQLCompiler
    from strawberry.extensions import SchemaExtension
    from strawberry.schema.base import BaseSchema
    from strawberry.types.execution import ExecutionContext, ExecutionResult
    from strawberry.types.field import StrawberryField

# The SDK's OTLP/HTTP exporter's logger (otlp_export logs what its export would).
_otlp_log = logging.getLogger("opentelemetry.exporter.otlp.proto.http.trace_exporter")

# Strawberry keeps a field's definition under this key of the graphql-core field's
# `extensions` (strawberry/schema/schema_converter.py).
_DEFINITION = "strawberry-definition"

__all__ = [
    "QueueEmpty",
    "QueueFull",
    "await_only",
    "bind_processors",
    "core_schema",
    "extensions_runner",
    "field_definition",
    "greenlet_spawn",
    "implements_resolve",
    "is_awaitable",
    "middleware",
    "needs_renewal",
    "otlp_export",
    "plain_connection",
    "pool_queue",
    "positional_names",
    "pre_pings",
    "protocol_schema",
    "public_span_parts",
    "queue_pool",
    "run_prepared",
    "samples_sampled_children",
    "sdk_tracer_parts",
    "span_parts_reader",
    "supervise_workers",
]

# SQLAlchemy's bridge between asyncio and its synchronous pool (sqlalchemy.util): a read
# that finds no kept connection checks one out in a greenlet, and kept connections are
# checked back in in one (db/engine.py, db/kept.py); the pool's queue waits through it
# (db/handoff.py). (Imported above and re-exported.)

is_awaitable: Callable[[Any], bool] = optimized_is_awaitable
"""Strawberry's faster `isawaitable` (typed as returning bool, it is a TypeGuard)."""


def needs_renewal(fairy: PoolProxiedConnection) -> bool:
    """Whether the pool would renew this checked-out connection at its next checkout: past
    pool_recycle, invalidated by the pool or on its own, or already closed."""
    record = fairy._connection_record
    if record is None:
        return True
    recycle: int = fairy._pool._recycle
    if recycle > -1 and time.time() - record.starttime > recycle:
        return True
    return bool(record._is_hard_or_soft_invalidated())


def plain_connection(driver: asyncpg.Connection) -> bool:
    """Whether an asyncpg connection caches statements and logs no query (`run_prepared`
    skips both the cache and the query loggers)."""
    return bool(driver._stmt_cache_enabled and not driver._query_loggers)  # type: ignore[attr-defined]


def run_prepared(
    driver: asyncpg.Connection, statement: PreparedStatement, args: Sequence[Any]
) -> Awaitable[list[asyncpg.Record]]:
    """The rows of a prepared statement of `driver`: Bind, Execute, Sync sent straight
    through its protocol, as Connection.fetch and PreparedStatement.fetch end up doing."""
    protocol = driver._protocol  # type: ignore[attr-defined]
    rows: Awaitable[list[asyncpg.Record]] = protocol.bind_execute(
        statement._state,  # type: ignore[attr-defined]
        args,
        "",  # the unnamed portal
        0,  # no row limit
        False,  # the rows only, not the status too
        None,  # the connection's command_timeout
    )
    return rows


def queue_pool(queue: type[Any]) -> type[AsyncAdaptedQueuePool]:
    """An AsyncAdaptedQueuePool keeping its idle connections in `queue`: QueuePool builds
    it as `queue(pool_size, use_lifo=...)` and calls `get(wait, timeout)`, `put(record,
    False)`, `qsize()`, raising sqlalchemy.util.queue's Empty and Full (`QueueEmpty`,
    `QueueFull`) for its overflow and timeout logic (db/handoff.py)."""
    name = f"{queue.__name__}Pool"
    # The pool logs under SQLAlchemy's own name for it (`sqlalchemy.pool.impl.
    # AsyncAdaptedQueuePool`), not this class's module: its INFO lines (a dispose, a
    # recreation) stay as quiet as SQLAlchemy keeps them, and `echo_pool` and a logging
    # configuration for `sqlalchemy.pool` keep applying to it.
    namespace = f"{AsyncAdaptedQueuePool.__module__}.{AsyncAdaptedQueuePool.__name__}"
    return type(
        name,
        (AsyncAdaptedQueuePool,),
        {
            "_queue_class": queue,
            "__module__": queue.__module__,
            "_sqla_logger_namespace": namespace,
        },
    )


def pool_queue(pool: Pool) -> object:
    """The queue a QueuePool keeps its idle connections in (None for other pools)."""
    return getattr(pool, "_pool", None)


def pre_pings(pool: Pool) -> bool:
    """Whether the pool pings every connection it checks out (pool_pre_ping)."""
    return bool(pool._pre_ping)


def bind_processors(compiled: SQLCompiler) -> Mapping[str, Any]:
    """A compiled statement's per-parameter conversions (ARRAY and the like), by name."""
    return compiled._bind_processors


def positional_names(compiled: SQLCompiler) -> tuple[str, ...]:
    """The parameter names of a statement compiled to $1, $2, ... form, in order."""
    return tuple(compiled.positiontup or ())


def core_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built (`Schema._schema`)."""
    return schema._schema


def field_definition(field: GraphQLField) -> StrawberryField | None:
    """The Strawberry field behind a graphql-core field, if Strawberry built it."""
    definition: StrawberryField | None = (field.extensions or {}).get(_DEFINITION)
    return definition


def implements_resolve(extension: type[SchemaExtension] | SchemaExtension) -> bool:
    """Whether an extension wraps every resolver call (`resolve`): the fast path skips those."""
    cls = extension if isinstance(extension, type) else type(extension)
    return bool(cls._implements_resolve())


def extensions_runner(
    execution: ExecutionContext, extensions: list[SchemaExtension]
) -> SchemaExtensionsRunner:
    """Strawberry's runner of the operation, execute and results hooks."""
    return SchemaExtensionsRunner(execution_context=execution, extensions=extensions)


def middleware(schema: strawberry.Schema, extensions: list[SchemaExtension]) -> Any:
    """graphql-core middleware calling the `resolve` hooks of these extension instances."""
    return schema._get_middleware_manager(extensions)


Results = AsyncIterator["ExecutionResult"]
Stream = Callable[..., Results]


class _ProtocolSchema:
    """What Strawberry's WebSocket protocol handlers call on `view.schema`."""

    def __init__(self, stream: Stream) -> None:
        self._stream = stream

    async def stream(self, query: str, **options: Any) -> Results:
        """graphql-transport-ws: `schema.stream(query, variable_values=..., ...)`."""
        return self._run(query, options)

    async def subscribe(self, query: str, **options: Any) -> Results:
        """Legacy graphql-ws: `schema.subscribe(query=..., variable_values=..., ...)`."""
        return self._run(query, options)

    def _run(self, query: str, options: dict[str, Any]) -> Results:
        return self._stream(
            query,
            variables=options.get("variable_values"),
            operation_name=options.get("operation_name"),
            context=options.get("context_value"),
        )


def protocol_schema(stream: Stream) -> BaseSchema:
    """A stand-in for the schema of Strawberry's WebSocket view: the protocol handlers
    hand every operation to `stream(query, variables=, operation_name=, context=)`."""
    return cast("BaseSchema", _ProtocolSchema(stream))


def otlp_export(
    exporter: OTLPSpanExporter,
    spans: Sequence[ReadableSpan],
    encode: Callable[[Sequence[ReadableSpan]], bytes],
) -> SpanExportResult | None:
    """What the SDK's OTLP/HTTP `OTLPSpanExporter.export` does (its exporter metrics, its
    size limit, its HTTP client with retries), with `encode` making the body instead of
    its protobuf messages; None where the exporter is not of the generation this knows
    (its `_client`, `_metrics` and `_max_request_size`, as in
    opentelemetry-exporter-otlp-proto-http 1.45), which then exports itself."""
    client = getattr(exporter, "_client", None)
    metrics = getattr(exporter, "_metrics", None)
    limit = getattr(exporter, "_max_request_size", None)
    if client is None or metrics is None or limit is None or exporter._shutdown:
        return None
    from opentelemetry.exporter.otlp.proto.http import _common
    from opentelemetry.sdk.trace.export import SpanExportResult

    with metrics.export_operation(len(spans)) as result:
        try:
            data = encode(spans)
        except Exception as error:
            _otlp_log.error("Failed to encode span batch: %s", error)
            result.error = error
            return SpanExportResult.FAILURE
        if _common._is_request_too_large(data, limit):
            _otlp_log.warning(
                "Dropping span batch: serialized size %d bytes exceeds max_request_size %d bytes.",
                len(data),
                limit,
            )
            result.error = _common.RequestPayloadTooLargeError(
                f"Serialized span request size {len(data)} bytes exceeds "
                f"max_request_size {limit} bytes."
            )
            return SpanExportResult.FAILURE
        sent = client.export(data)
        if not sent.success:
            result.error = sent.error
            result.error_attrs = (
                {"http.response.status_code": sent.status_code}
                if sent.status_code is not None
                else None
            )
            return SpanExportResult.FAILURE
    return SpanExportResult.SUCCESS


def supervise_workers(worker: type[multiprocess.Process]) -> None:
    """Make uvicorn's supervisor start (and restart) its workers as `worker`: `Multiprocess`
    builds each from its module's `Process` and offers no option to choose another."""
    multiprocess.Process = worker  # type: ignore[misc]


# A span's context, parent, name, kind, start and end times, status, attributes, dropped
# attributes, events, dropped events, links and dropped links.
SpanParts = tuple[
    "SpanContext",
    "SpanContext | None",
    str,
    "SpanKind",
    "int | None",
    "int | None",
    "Status",
    "Mapping[str, Any] | None",
    int,
    Sequence[Any],
    int,
    Sequence[Any],
    int,
]
# The attributes of an SDK span span_parts_reader reads (set by ReadableSpan.__init__).
_SPAN_FIELDS = (
    "_context",
    "_parent",
    "_name",
    "_kind",
    "_start_time",
    "_end_time",
    "_status",
    "_attributes",
    "_events",
    "_links",
)


def public_span_parts(span: ReadableSpan) -> SpanParts:
    """A span's parts, read through ReadableSpan's public properties."""
    context = span.get_span_context()
    assert context is not None  # (an ended span's)
    return (
        context,
        span.parent,
        span.name,
        span.kind,
        span.start_time,
        span.end_time,
        span.status,
        span.attributes,
        span.dropped_attributes,
        span.events,
        span.dropped_events,
        span.links,
        span.dropped_links,
    )


def span_parts_reader() -> Callable[[ReadableSpan], SpanParts]:
    """A reader of an SDK span's parts (`SpanParts`) straight from its own attributes, its
    BoundedAttributes' dict and its BoundedLists' deques; `public_span_parts` for a span or
    a collection it does not know, and wholly where the SDK's are not the ones known.

    The properties cost a Python call each and some copy: `attributes` wraps the
    BoundedAttributes in a MappingProxyType whose items are then fetched one Python call
    each, `events` and `links` copy their BoundedList under its lock: together a third of
    the OTLP encoder's time per span. The span is ended (the SDK hands processors ended
    spans), so nothing changes them meanwhile."""
    from opentelemetry.attributes import BoundedAttributes
    from opentelemetry.sdk.trace import ReadableSpan, Span
    from opentelemetry.sdk.util import BoundedList

    from wren.observability.spans import LeanSpan

    known = (ReadableSpan, Span, LeanSpan)
    probe_attributes = BoundedAttributes(attributes={"k": 1})
    probe_list: Any = BoundedList(1)
    if not (
        isinstance(getattr(probe_attributes, "_dict", None), dict)
        and isinstance(getattr(probe_list, "_dq", None), deque)
        and isinstance(getattr(probe_attributes, "dropped", None), int)
        and isinstance(getattr(probe_list, "dropped", None), int)
        and all(name in vars(ReadableSpan("probe")) for name in _SPAN_FIELDS)
    ):
        return public_span_parts

    def listed(items: Any) -> tuple[Any, int] | None:
        """A span's events or links and how many it dropped; None for a kind not known."""
        kind = type(items)
        if kind is BoundedList:
            return items._dq, items.dropped
        if kind is tuple or kind is list:
            return items, 0
        return None

    def parts(span: ReadableSpan) -> SpanParts:
        if type(span) not in known:
            return public_span_parts(span)
        read: Any = span
        attributes = read._attributes
        events = read._events
        links = read._links
        kind = type(attributes)
        if kind is BoundedAttributes:
            attributes, dropped_attributes = attributes._dict, attributes.dropped
        elif attributes is None or kind is dict:
            dropped_attributes = 0
        else:
            return public_span_parts(span)
        events_read = listed(events)
        links_read = listed(links)
        if events_read is None or links_read is None:
            return public_span_parts(span)
        events, dropped_events = events_read
        links, dropped_links = links_read
        return (
            read._context,
            read._parent,
            read._name,
            read._kind,
            read._start_time,
            read._end_time,
            read._status,
            attributes,
            dropped_attributes,
            events,
            dropped_events,
            links,
            dropped_links,
        )

    return parts


class TracerParts(NamedTuple):
    """What an SDK tracer gives each span it starts (observability/spans.py makes spans
    with it)."""

    resource: Resource
    scope: InstrumentationScope
    info: InstrumentationInfo
    processor: SpanProcessor
    on_ending: Callable[[Any], None] | None
    id_generator: IdGenerator
    limits: SpanLimits
    enabled: bool
    counts_spans: bool


def sdk_tracer_parts(tracer: Any) -> TracerParts | None:
    """An SDK tracer's resource, scope, span processor, id generator and span limits,
    whether it is enabled and whether it counts its spans in the SDK's own metrics; None
    for any other tracer, or an SDK one whose fields are not the ones known.

    `resource`, `span_processor`, `id_generator` and `instrumentation_info` are public
    attributes of the SDK's Tracer; its scope, span limits, configuration and metrics are
    not (opentelemetry/sdk/trace/__init__.py, Tracer.__init__ and start_span)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, Tracer
    from opentelemetry.sdk.trace._tracer_metrics import NoOpTracerMetrics
    from opentelemetry.sdk.trace.id_generator import IdGenerator
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    if type(tracer) is not Tracer:
        return None
    read: Any = tracer
    processor = getattr(read, "span_processor", None)
    scope = getattr(read, "_instrumentation_scope", None)
    limits = getattr(read, "_span_limits", None)
    metrics = getattr(read, "_tracer_metrics", None)
    enabled = getattr(read, "_is_enabled", None)
    if not (
        isinstance(getattr(read, "resource", None), Resource)
        and isinstance(processor, SpanProcessor)
        and isinstance(getattr(read, "id_generator", None), IdGenerator)
        and isinstance(scope, InstrumentationScope)
        and isinstance(limits, SpanLimits)
        and metrics is not None
        and callable(enabled)
    ):
        return None
    on_ending = getattr(processor, "_on_ending", None)
    return TracerParts(
        resource=read.resource,
        scope=scope,
        info=read.instrumentation_info,
        processor=processor,
        on_ending=on_ending if callable(on_ending) else None,
        id_generator=read.id_generator,
        limits=limits,
        enabled=bool(enabled()),
        counts_spans=type(metrics) is not NoOpTracerMetrics,
    )


def samples_sampled_children(sampler: Sampler) -> bool:
    """Whether `sampler` samples every span whose parent is a sampled span of this process:
    ParentBased's delegate for such a parent is ALWAYS_ON (its default), or a sampler that
    decides by the trace id alone, which the parent's was sampled on (TraceIdRatioBased,
    ALWAYS_ON; ALWAYS_OFF samples no parent)."""
    from opentelemetry.sdk.trace.sampling import (
        ALWAYS_OFF,
        ALWAYS_ON,
        ParentBased,
        ParentBasedTraceIdRatio,
        TraceIdRatioBased,
    )

    if type(sampler) in (ParentBased, ParentBasedTraceIdRatio):
        return getattr(sampler, "_local_parent_sampled", None) is ALWAYS_ON
    return sampler is ALWAYS_ON or sampler is ALWAYS_OFF or type(sampler) is TraceIdRatioBased
