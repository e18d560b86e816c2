"""Observability: metrics (metrics.py), traces (tracing.py) and log lines (logs.py), recorded
at a few seams only:

    request     the HTTP view, once per request: its span (traceparent honoured, trace id
                sent back in `traceresponse`), its duration, the access line
    operation   the pipeline, once per operation (HTTP and WebSocket alike): name, type,
                cost, duration, error codes, SQL statements and database time, the slow line
    statement   Database.fetch: a span per SQL statement, pool wait, statement count
    batch       each loader batch function: a span with its size, the size histogram
    redis       each cache call of CacheStore: a span and its duration

With nothing configured (no WREN_METRICS_PORT, no OTEL exporter, no access log) nothing is
observed: the seams test one attribute and the pipeline times each operation once (for
the slow line). With traces or the access line, a request's numbers live in one `Record`
in a context variable, which the tasks running its loader batches inherit; with metrics
alone none is current: an operation's statements are counted on its reads' tracking
object (db/inflight.py), which the pipeline hands to `ran` in its Result. Spans below the request's
are only made when the request's span is recording. A request without traceparent is
sampled on a fresh trace id before any span (tracing.PresetIds, tracing.root_bound): one
sampled out costs no span, and, traced only (no metrics, no access log), has no Record,
so the statement, loader and Redis seams take the same path as with nothing configured.
The spans of a request sampled on that draw, and every span below a sampled one, are
Wren's own (spans.py: the SDK's span state without the SDK's machinery around it), where
the tracer and sampler let them come out as the SDK's would.
What each setting costs a request is measured by bench/overhead.py (README, Observability).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar, Token
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from wren.observability import logs
from wren.observability.metrics import LIMIT_CODES, SYNC_EVERY, Metrics
from wren.observability.spans import Spans
from wren.observability.tracing import (
    PROPAGATOR,
    PresetIds,
    provider_from_environment,
    root_bound,
    traceresponse,
)

if TYPE_CHECKING:
    from graphql import GraphQLError, OperationDefinitionNode
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

    from wren.http.request import IndexedHeaders
    from wren.pipeline import Result
    from wren.settings import Settings

T = TypeVar("T")

__all__ = ["CURRENT", "Record", "Telemetry", "error_codes"]


class Record:
    """What one request did, as the seams report it.

    Slots: CPython 3.11 specialises reads and writes of a slot, while a plain class's
    defaults, read through the instance, took the generic attribute lookup at every seam
    (a tenth of what metrics cost a small request). `__init__` sets what every seam
    reads; `describe` the rest, which only the access line and traces read (a request
    counted for metrics alone does without).
    """

    __slots__ = (
        "_context",
        "_token",
        "cache_hits",
        "codes",
        "cost",
        "db_seconds",
        "header",
        "method",
        "operations",
        "recording",
        "request_id",
        "span",
        "statements",
        "trace_id",
    )

    def __init__(self, method: str) -> None:
        self.method = method
        self.statements = 0
        self.db_seconds = 0.0
        self.codes: tuple[str, ...] = ()
        self.recording = False
        self.span: Span | None = None
        self.cache_hits = 0
        self._token: Token[Record | None]  # CURRENT's, set by `begin`, reset by `finish`
        self._context: object  # OpenTelemetry's context token (with `span`), detached at the end

    def describe(self, request_id: str) -> None:
        """What the access line and the request's span read."""
        self.request_id = request_id
        self.operations: tuple[tuple[str | None, str | None], ...] = ()
        self.cost = 0
        self.trace_id: str | None = None
        self.header: str | None = None  # traceresponse of a request sampled out before any span


CURRENT: ContextVar[Record | None] = ContextVar("wren_request", default=None)
_LOW_64 = (1 << 64) - 1
_LOW_128 = (1 << 128) - 1
_SPAN_ONE = 1 << 128  # the least 192-bit draw whose high 64 bits (the span id) are not 0
_getrandbits = random.getrandbits
# The parent context of a request without traceparent: empty (a new trace), whatever
# context is current around the app.
_ROOT = otel_context.Context()


def recording() -> bool:
    """Whether the current request's span records (the seams then make spans)."""
    record = CURRENT.get()
    return record is not None and record.recording


def _summary(sql: str) -> str:
    """A SQL statement's span name: its first keyword (OpenTelemetry's db.operation.name)."""
    head = sql.lstrip().split(None, 1)
    return head[0].upper() if head else "SQL"


class Telemetry:
    """One app's metrics, tracer and log settings, and the seams' recording functions."""

    def __init__(
        self,
        settings: Settings,
        *,
        tracer_provider: TracerProvider | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.metrics = Metrics(settings) if settings.metrics_port is not None else None
        self.provider = tracer_provider or provider_from_environment(
            os.environ if environ is None else environ
        )
        self.tracer = None if self.provider is None else self.provider.get_tracer("wren")
        self.access_log = settings.access_log
        self.slow_ms = settings.slow_operation_ms
        self.slow_seconds = (
            settings.slow_operation_ms / 1000 if settings.slow_operation_ms else math.inf
        )
        # Whether requests get a Record (and the database, loaders and cache report to it).
        self.observing = self.metrics is not None or self.tracer is not None or self.access_log
        # Each SQL statement's span name and attributes, built once (the SDK copies them).
        self._statements: dict[str, tuple[str, dict[str, str]]] = {}
        self._redis: dict[str, tuple[str, dict[str, str]]] = {}  # (the same, by Redis call)
        # With metrics: what each loader appends its batch sizes to, by loader name.
        self._sizes: dict[str, Callable[[int], None]] = {}
        # Root spans sampled before the SDK is asked (see tracing.PresetIds), by their
        # trace id alone when the sampler allows (see tracing.root_bound).
        ids = getattr(self.provider, "id_generator", None)
        self._ids = ids if isinstance(ids, PresetIds) else None
        self._bound = None if self.provider is None else root_bound(self.provider.sampler)
        # Wren's own spans where they come out as the SDK's would (spans.py): the sampled
        # roots of its own draw, every span below a sampled one.
        self._spans = (
            None
            if self.provider is None or self.tracer is None
            else Spans.of(self.provider, self.tracer)
        )
        # What the request seams may skip: traced only (a request sampled out is only its
        # header), metrics only (no span, header or access line to end with).
        self._traces_only = self.metrics is None and not self.access_log
        # Whether a request's Record is made current (CURRENT) and described: not with
        # metrics alone, whose seams need none (an operation's statements are counted on
        # its reads, db/inflight.py; its errors are counted where they are known). Such a
        # request's Record is one per method, made once and only read (its method).
        self.records = self.tracer is not None or self.access_log
        self._bare: dict[str, Record] = {}

    # -- the request (HTTP view)

    def begin(self, request_id: str, method: str, headers: IndexedHeaders) -> Record | str:
        """Start observing a request: its Record and span become current.

        A request sampled out that nothing else observes (traces only, no traceparent) is
        only its `traceresponse` header: no Record, no span, nothing current (the view
        then sends the header and calls no `finish`).
        """
        tracer = self.tracer
        if tracer is None:
            if not self.records:
                return self._bare.get(method) or self._bare_record(method)
            record = Record(method)
            record._token = CURRENT.set(record)
            if self.access_log:
                record.describe(request_id)
                record.trace_id = _incoming_trace_id(headers.get("traceparent"))
            return record
        parent = None
        drawn = 0  # the trace id Wren sampled a new trace on
        if b"traceparent" in headers.index:
            parent = PROPAGATOR.extract(headers)
        elif self._ids is not None:
            header = self._sampled_out(method)
            if isinstance(header, str):
                if self._traces_only:
                    return header  # nothing below needs a record: the seams see no request
                record = Record(method)
                record.describe(request_id)
                record.header = header
                record.trace_id = header[3:35]
                record._token = CURRENT.set(record)
                return record
            drawn = header
            parent = _ROOT
        record = Record(method)
        record.describe(request_id)
        attributes = {"http.request.method": method, "http.route": "/graphql"}
        span: Span
        if drawn and self._spans is not None:
            # Sampled on Wren's own draw: the span the SDK would make on that trace id.
            span = self._spans.root(f"{method} /graphql", drawn, SpanKind.SERVER, attributes)
        else:
            if drawn and self._ids is not None:
                self._ids.preset(drawn)
            span = tracer.start_span(
                f"{method} /graphql", context=parent, kind=SpanKind.SERVER, attributes=attributes
            )
        record.span = span
        record.recording = span.is_recording()
        record._token = CURRENT.set(record)
        record._context = otel_context.attach(trace.set_span_in_context(span, parent))
        return record

    def _bare_record(self, method: str) -> Record:
        """A request's Record with metrics alone: kept for the next request of its method
        (a few dozen methods at most: the method is the client's)."""
        record = Record(method)
        if len(self._bare) < 32:
            self._bare[method] = record
        return record

    def _sampled_out(self, method: str) -> str | int:
        """Sample a root request on a fresh trace id: its `traceresponse` header when
        sampled out, else the trace id of its span.

        One draw of 192 random bits (as the SDK's RandomIdGenerator, from `random`): the
        span id of the header is its high 64, the trace id its low 128, so the sampler's
        bound is compared with the draw's low 64 bits as the SDK's TraceIdRatioBased
        compares it with the trace id's. Both ids in one `hex()`: formatting them apart
        with `:032x` and `:016x` cost more than the draw.
        """
        bits = _getrandbits(192)
        low = bits & _LOW_64
        bound = self._bound
        if bound is not None:
            sampled = low < bound
        else:
            assert self.provider is not None
            sampled = self.provider.sampler.should_sample(
                _ROOT, bits & _LOW_128, f"{method} /graphql", SpanKind.SERVER
            ).decision.is_sampled()  # type: ignore[no-untyped-call]
        if not low or bits < _SPAN_ONE:  # one in 2**64: ids are never zero
            return self._sampled_out(method)
        if sampled:
            return bits & _LOW_128
        ids = bits.to_bytes(24, "big").hex()
        # The `traceresponse` header (W3C Trace Context Level 2), unsampled.
        return f"00-{ids[16:]}-{ids[:16]}-00"

    def finish(self, record: Record, status: int, seconds: float) -> str | None:
        """End a request: its span, its metrics, its access line; the `traceresponse`
        header's value when it was traced."""
        if self.records:
            CURRENT.reset(record._token)
        metrics = self.metrics
        if metrics is not None:
            key = (record.method, status)
            (metrics.requests.get(key) or metrics.request(*key))(seconds)
            if record.codes:
                for code in record.codes:
                    self._count_error(metrics, code)
            metrics.unsynced += 1
            if metrics.unsynced >= SYNC_EVERY:
                metrics.add_observed()
            if not self.records:
                return None
        span = record.span
        header = record.header
        if span is not None:
            otel_context.detach(record._context)  # type: ignore[arg-type]
            context = span.get_span_context()
            header = traceresponse(context)
            if record.recording:
                record.trace_id = f"{context.trace_id:032x}"
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
        if self.access_log:
            name, kind = record.operations[0] if record.operations else (None, None)
            logs.access(
                {
                    "request_id": record.request_id,
                    "trace_id": record.trace_id or _trace_id(span),
                    "method": record.method,
                    "operation_name": name,
                    "operation_type": kind,
                    "operations": len(record.operations),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                    "cost": record.cost,
                    "sql_statements": record.statements,
                    "db_ms": round(record.db_seconds * 1000, 3),
                    "cache_hits": record.cache_hits,
                    "error_codes": list(record.codes),
                }
            )
        return header

    @staticmethod
    def _count_error(metrics: Metrics, code: str) -> None:
        metrics.child(metrics.errors, code).inc()
        if code in LIMIT_CODES:
            if code == "DEADLINE_EXCEEDED":
                metrics.deadlines.inc()
            else:
                metrics.child(metrics.refused, code).inc()

    def errors(self, codes: list[str]) -> None:
        """Count errors of an operation that has no request Record (WebSocket)."""
        record = CURRENT.get()
        if record is not None:
            record.codes += tuple(codes)
        elif self.metrics is not None:
            for code in codes:
                self._count_error(self.metrics, code)

    # -- operations (the pipeline)

    def ran(
        self,
        operation: OperationDefinitionNode,
        extensions: dict[str, Any],
        result: Result,
        seconds: float,
        request_id: str,
    ) -> None:
        """One operation ran (over HTTP): its metrics, its span's name, the slow line.

        Given the pipeline's own objects (five positional arguments): building its name,
        type, cost and codes for a call with keywords cost more than its metrics.
        """
        record = CURRENT.get() if self.records else None
        errors = result.errors
        name_node = operation.name
        name = None if name_node is None else name_node.value
        kind: str = operation.operation._value_  # (`.value` is a property: a call)
        cost: int | None = extensions["cost"]["estimated"]
        metrics = self.metrics
        if metrics is not None:
            series = metrics.operations.get((name, kind))
            if series is None:
                series = metrics.operation(name, kind, True)
            # (the request's `finish` bounds the observations kept between syncs)
            series.append((seconds, cost, result.statements, result.db_seconds))
            if errors and record is None:  # counted here, not by `finish`
                for code in error_codes(errors):
                    self._count_error(metrics, code)
        if record is not None:
            if errors:
                record.codes += tuple(error_codes(errors))
            # The operations and their cost are for the access line and the span only.
            if self.access_log or record.recording:
                self._operation_of(record, name, kind, cost)
        if seconds > self.slow_seconds:
            codes = error_codes(errors) if errors else []
            self.slow(name, kind, seconds, cost, codes, request_id, record, result)

    @staticmethod
    def _operation_of(record: Record, name: str | None, kind: str, cost: int | None) -> None:
        """An operation of the request, for its access line and its span."""
        record.operations += ((name, kind),)
        if cost:
            record.cost += cost
        span = record.span if record.recording else None
        if span is not None and len(record.operations) == 1:
            span.update_name(f"{kind} {name}" if name else kind)
            attributes: dict[str, str | int] = {"graphql.operation.type": kind}
            if name:
                attributes["graphql.operation.name"] = name
            if cost is not None:
                attributes["wren.graphql.cost"] = cost
            span.set_attributes(attributes)  # (one call: each takes the span's lock)

    def slow(
        self,
        name: str | None,
        kind: str,
        seconds: float,
        cost: int | None,
        codes: Sequence[str],
        request_id: str,
        record: Record | None,
        result: Result | None = None,
    ) -> None:
        """The slow-operation line (its SQL figures the request's, or with metrics alone
        the operation's)."""
        fields: dict[str, Any] = {
            "request_id": request_id,
            "operation_name": name,
            "operation_type": kind,
            "duration_ms": round(seconds * 1000, 3),
            "cost": cost,
            "error_codes": list(codes),
        }
        if record is not None:
            fields["trace_id"] = _trace_id(record.span)
            fields["sql_statements"] = record.statements
            fields["db_ms"] = round(record.db_seconds * 1000, 3)
        elif result is not None and self.metrics is not None:
            fields["trace_id"] = None
            fields["sql_statements"] = result.statements
            fields["db_ms"] = round(result.db_seconds * 1000, 3)
        logs.slow(fields, self.slow_ms)

    def span(self, name: str, **attributes: Any) -> Any:
        """A child span of the current request's, when it records (else None): a context
        manager that makes it current."""
        record = CURRENT.get()
        if record is None or not record.recording or self.tracer is None:
            return None
        return _Current(self._start(name, SpanKind.INTERNAL, attributes))

    def _start(self, name: str, kind: SpanKind, attributes: Mapping[str, Any]) -> Span:
        """A span below the current one: Wren's own when that one is a sampled span of
        this process (spans.py), else the SDK's (a remote parent's child is the sampler's
        to decide by its remote-parent rules)."""
        spans = self._spans
        if spans is not None:
            parent = trace.get_current_span().get_span_context()
            if parent.trace_flags.sampled and parent.is_valid and not parent.is_remote:
                return spans.child(parent, name, kind, attributes)
        assert self.tracer is not None
        return self.tracer.start_span(name, kind=kind, attributes=attributes)

    # -- the database, loaders and the cache

    async def statement(self, sql: str, run: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one SQL statement (`run(*args)`), counted, timed and traced."""
        record = CURRENT.get()
        if record is None:
            return await run(*args)
        if not record.recording:  # counted and timed only
            started = perf_counter()
            try:
                return await run(*args)
            finally:
                record.statements += 1
                record.db_seconds += perf_counter() - started
        span = None
        if self.tracer is not None:
            described = self._statements.get(sql) or self._statement(sql)
            span = self._start(described[0], SpanKind.CLIENT, described[1])
        started = perf_counter()
        try:
            return await run(*args)
        except BaseException as error:
            if span is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            record.statements += 1
            record.db_seconds += perf_counter() - started
            if span is not None:
                span.end()

    def _statement(self, sql: str) -> tuple[str, dict[str, str]]:
        summary = _summary(sql)
        described = self._statements[sql] = (
            summary,
            {
                "db.system": "postgresql",
                "db.system.name": "postgresql",
                "db.operation.name": summary,
                "db.query.text": sql,
            },
        )
        return described

    def checkout_waited(self, seconds: float) -> None:
        """A pooled connection came after `seconds`."""
        if self.metrics is not None:
            self.metrics.pool_wait.append(seconds)

    def checkout_timed_out(self) -> None:
        """A checkout gave up after the pool timeout."""
        if self.metrics is not None:
            self.metrics.pool_timeouts.inc()

    def loader_batch(
        self, name: str, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
    ) -> tuple[Callable[[list[Any]], Coroutine[Any, Any, list[Any]]], Callable[[int], None] | None]:
        """A loader's batch function (wrapped in a span when traced) and what its sizes are
        appended to (with metrics; the loader reports them: db/dataloader.py).

        Loaders are made per request, inside it: with no recording span, the batch
        function itself.
        """
        tracer = self.tracer
        if tracer is not None:
            record = CURRENT.get()
            if record is not None and record.recording:
                batch = _traced_batch(self._start, name, batch)
        if self.metrics is None:
            return batch, None
        return batch, self._sizes.get(name) or self._batch_sizes(name)

    def _batch_sizes(self, name: str) -> Callable[[int], None]:
        assert self.metrics is not None
        sizes = self._sizes[name] = self.metrics.batch_sizes(name).append
        return sizes

    def batch(
        self, name: str, batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]
    ) -> Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]:
        """A batch function run without a loader, that reports its own size (and a span
        when traced)."""
        batch, sizes = self.loader_batch(name, batch)
        if sizes is None:
            return batch
        append = sizes
        inner = batch

        async def sized(keys: list[Any]) -> list[Any]:
            append(len(keys))
            return await inner(keys)

        return sized

    async def redis_call(self, call: str, run: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis call of the cache, timed and traced."""
        record = CURRENT.get()
        span = None
        if record is not None and record.recording and self.tracer is not None:
            described = self._redis.get(call)
            if described is None:
                described = self._redis[call] = (
                    f"redis {call}",
                    {"db.system": "redis", "db.system.name": "redis", "db.operation.name": call},
                )
            span = self._start(described[0], SpanKind.CLIENT, described[1])
        started = perf_counter()
        try:
            return await run()
        except BaseException as error:
            if span is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            raise
        finally:
            if self.metrics is not None:
                self.metrics.child(self.metrics.redis_duration, call).observe(
                    perf_counter() - started
                )
            if span is not None:
                span.end()

    def cache_hits(self, hits: int) -> None:
        """Entries a request got from the cache (for its access line)."""
        record = CURRENT.get()
        if record is not None:
            record.cache_hits += hits

    def shutdown(self) -> None:
        """Flush and stop the exporters; the last histogram observations into their files
        (under several workers, synced every second)."""
        if self.metrics is not None:
            self.metrics.add_observed()
        if self.provider is not None:
            self.provider.shutdown()


def _traced_batch(
    start: Callable[[str, SpanKind, Mapping[str, Any]], Span],
    name: str,
    batch: Callable[[list[Any]], Coroutine[Any, Any, list[Any]]],
) -> Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]:
    """A loader's batch function in a span of its own."""
    span_name = f"loader {name}"

    async def traced(keys: list[Any]) -> list[Any]:
        span = start(
            span_name,
            SpanKind.INTERNAL,
            {"wren.loader.name": name, "wren.loader.batch_size": len(keys)},
        )
        with _Current(span):
            return await batch(keys)

    return traced


class _Current:
    """A started span, current while the block runs and ended after it; an exception
    leaving the block is recorded on it and sets its status to ERROR.

    What the SDK's `start_as_current_span` does, without its two generator-based context
    managers (the tracer's and `use_span`): a sampled request makes one per loader batch
    and per pipeline step.
    """

    __slots__ = ("_span", "_token")

    def __init__(self, span: Span) -> None:
        self._span = span

    def __enter__(self) -> Span:
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self._span

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: Any
    ) -> None:
        otel_context.detach(self._token)
        span = self._span
        if isinstance(error, Exception):  # (not GeneratorExit, CancelledError: as the SDK)
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()


def error_codes(errors: list[GraphQLError]) -> list[str]:
    """The extensions.code of each error."""
    return [str((error.extensions or {}).get("code", "INTERNAL_SERVER_ERROR")) for error in errors]


def _trace_id(span: Span | None) -> str | None:
    if span is None:
        return None
    trace_id = span.get_span_context().trace_id
    return f"{trace_id:032x}" if trace_id else None


def _incoming_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a well-formed traceparent header (when Wren itself does not trace)."""
    if traceparent is None:
        return None
    parts = traceparent.strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].lower()
