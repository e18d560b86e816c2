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
the slow line). When observing, a request's numbers live in one `Record` in a context
variable, which the tasks running its loader batches inherit. Spans below the request's
are only made when the request's span is recording. A request without traceparent is
sampled on a fresh trace id before any span (tracing.PresetIds, tracing.root_bound): one
sampled out costs no span, and, traced only (no metrics, no access log), has no Record,
so the statement, loader and Redis seams take the same path as with nothing configured.
What each setting costs a request is measured by bench/overhead.py (README, Observability).
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar, Token
from time import perf_counter
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from wren.observability import logs
from wren.observability.metrics import LIMIT_CODES, SYNC_EVERY, Metrics
from wren.observability.tracing import (
    PROPAGATOR,
    PresetIds,
    provider_from_environment,
    root_bound,
    traceresponse,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span

    from wren.settings import Settings

T = TypeVar("T")

__all__ = ["CURRENT", "Record", "Telemetry"]


class Record:
    """What one request did, as the seams report it.

    A plain class whose defaults are class attributes: making one sets two attributes
    (the dataclass it was set eleven and built two lists, a twentieth of what metrics
    cost a small request); the seams assign what they change.
    """

    span: Span | None = None
    recording: bool = False
    statements: int = 0
    db_seconds: float = 0.0
    operations: tuple[tuple[str | None, str | None], ...] = ()
    cost: int = 0
    codes: tuple[str, ...] = ()
    cache_hits: int = 0
    trace_id: str | None = None
    header: str | None = None  # traceresponse of a request sampled out before any span
    _token: Token[Record | None] | None = None  # CURRENT's, reset at the end
    _context: object = None  # OpenTelemetry's context token, detached at the end

    def __init__(self, request_id: str, method: str) -> None:
        self.request_id = request_id
        self.method = method


CURRENT: ContextVar[Record | None] = ContextVar("wren_request", default=None)
_LOW_64 = (1 << 64) - 1
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
        self._summaries: dict[str, str] = {}
        # Root spans sampled before the SDK is asked (see tracing.PresetIds), by their
        # trace id alone when the sampler allows (see tracing.root_bound).
        ids = getattr(self.provider, "id_generator", None)
        self._ids = ids if isinstance(ids, PresetIds) else None
        self._bound = None if self.provider is None else root_bound(self.provider.sampler)

    # -- the request (HTTP view)

    def begin(self, request_id: str, method: str, headers: Mapping[str, str]) -> Record | str:
        """Start observing a request: its Record and span become current.

        A request sampled out that nothing else observes (traces only, no traceparent) is
        only its `traceresponse` header: no Record, no span, nothing current.
        """
        tracer = self.tracer
        if tracer is None:
            record = Record(request_id, method)
            record._token = CURRENT.set(record)
            if self.access_log:
                record.trace_id = _incoming_trace_id(headers.get("traceparent"))
            return record
        parent = None
        if "traceparent" in headers:
            parent = PROPAGATOR.extract(headers)
        elif self._ids is not None:
            header = self._sampled_out(method)
            if header is not None:
                if self.metrics is None and not self.access_log:
                    return header  # nothing below needs a record: the seams see no request
                record = Record(request_id, method)
                record.header = header
                record.trace_id = header[3:35]
                record._token = CURRENT.set(record)
                return record
            parent = _ROOT
        record = Record(request_id, method)
        span = tracer.start_span(
            f"{method} /graphql",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "http.route": "/graphql"},
        )
        record.span = span
        record.recording = span.is_recording()
        record._token = CURRENT.set(record)
        record._context = otel_context.attach(trace.set_span_in_context(span, parent))
        return record

    def _sampled_out(self, method: str) -> str | None:
        """Sample a root request on a fresh trace id: its `traceresponse` header when
        sampled out, else None (the trace id is then preset for its span).

        One draw of 192 random bits (as the SDK's RandomIdGenerator, from `random`) is
        the trace id (its high 128) and the span id of the header (its low 64); the
        sampler's bound is compared with the trace id's low 64 bits, as the SDK's
        TraceIdRatioBased does. Both ids in one `hex()`: formatting them apart with
        `:032x` and `:016x` cost more than the draw.
        """
        bits = random.getrandbits(192)
        trace_id = bits >> 64
        if not trace_id or not bits & _LOW_64:  # one in 2**64: ids are never zero
            return self._sampled_out(method)
        bound = self._bound
        if bound is not None:
            sampled = trace_id & _LOW_64 < bound
        else:
            assert self.provider is not None
            sampled = self.provider.sampler.should_sample(
                _ROOT, trace_id, f"{method} /graphql", SpanKind.SERVER
            ).decision.is_sampled()  # type: ignore[no-untyped-call]
        if sampled:
            assert self._ids is not None
            self._ids.preset(trace_id)
            return None
        ids = bits.to_bytes(24, "big").hex()
        # The `traceresponse` header (W3C Trace Context Level 2), unsampled.
        return f"00-{ids[:32]}-{ids[32:]}-00"

    def finish(self, record: Record | str, status: int, seconds: float) -> str | None:
        """End a request: its span, its metrics, its access line; the `traceresponse`
        header's value when it was traced."""
        if isinstance(record, str):
            return record  # sampled out, and nothing else observed (see `begin`)
        CURRENT.reset(record._token)  # type: ignore[arg-type]  # (`begin` set it)
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
        metrics = self.metrics
        if metrics is not None:
            method = record.method
            (metrics.requests.get((method, status)) or metrics.request(method, status)).append(
                seconds
            )
            if record.codes:
                for code in record.codes:
                    self._count_error(metrics, code)
            metrics.unsynced += 1
            if metrics.unsynced >= SYNC_EVERY:
                metrics.add_observed()
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

    def operation(
        self,
        name: str | None,
        kind: str,
        *,
        validated: bool,
        cost: int | None,
        seconds: float,
        codes: list[str],
        request_id: str,
    ) -> None:
        """One operation ran (or was refused): its metrics, its span's name, the slow line."""
        record = CURRENT.get()
        metrics = self.metrics
        if metrics is not None:
            series = metrics.operations.get((name, kind)) if validated else None
            if series is None:
                series = metrics.operation(name, kind, validated)
            if record is not None:
                series.append((seconds, cost, record.statements, record.db_seconds))
            else:  # (WebSocket) bounded here, as requests are in `finish`
                series.append((seconds, cost, None, None))
                metrics.unsynced += 1
                if metrics.unsynced >= SYNC_EVERY:
                    metrics.add_observed()
        if record is not None:
            if codes:
                record.codes += tuple(codes)
            # The operations and their cost are for the access line and the span only.
            if self.access_log or record.recording:
                self._operation_of(record, name, kind, cost)
        if seconds > self.slow_seconds:
            self.slow(name, kind, seconds, cost, codes, request_id, record)

    @staticmethod
    def _operation_of(record: Record, name: str | None, kind: str, cost: int | None) -> None:
        """An operation of the request, for its access line and its span."""
        record.operations += ((name, kind),)
        if cost:
            record.cost += cost
        span = record.span if record.recording else None
        if span is not None and len(record.operations) == 1:
            span.update_name(f"{kind} {name}" if name else kind)
            span.set_attribute("graphql.operation.type", kind)
            if name:
                span.set_attribute("graphql.operation.name", name)
            if cost is not None:
                span.set_attribute("wren.graphql.cost", cost)

    def slow(
        self,
        name: str | None,
        kind: str,
        seconds: float,
        cost: int | None,
        codes: list[str],
        request_id: str,
        record: Record | None,
    ) -> None:
        """The slow-operation line."""
        fields: dict[str, Any] = {
            "request_id": request_id,
            "operation_name": name,
            "operation_type": kind,
            "duration_ms": round(seconds * 1000, 3),
            "cost": cost,
            "error_codes": codes,
        }
        if record is not None:
            fields["trace_id"] = _trace_id(record.span)
            fields["sql_statements"] = record.statements
            fields["db_ms"] = round(record.db_seconds * 1000, 3)
        logs.slow(fields, self.slow_ms)

    def span(self, name: str, **attributes: Any) -> Any:
        """A child span of the current request's, when it records (else None)."""
        record = CURRENT.get()
        if record is None or not record.recording or self.tracer is None:
            return None
        return self.tracer.start_as_current_span(name, attributes=attributes)

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
            summary = self._summaries.get(sql)
            if summary is None:
                summary = self._summaries[sql] = _summary(sql)
            span = self.tracer.start_span(
                summary,
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system": "postgresql",
                    "db.system.name": "postgresql",
                    "db.operation.name": summary,
                    "db.query.text": sql,
                },
            )
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
        metrics = self.metrics
        sizes = None
        if metrics is not None:
            sizes = (metrics.batches.get(name) or metrics.batch_sizes(name)).append
        tracer = self.tracer
        if tracer is None:
            return batch, sizes
        record = CURRENT.get()
        if record is None or not record.recording:
            return batch, sizes
        span_name = f"loader {name}"

        async def traced(keys: list[Any]) -> list[Any]:
            with tracer.start_as_current_span(
                span_name,
                attributes={"wren.loader.name": name, "wren.loader.batch_size": len(keys)},
            ):
                return await batch(keys)

        return traced, sizes

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
            span = self.tracer.start_span(
                f"redis {call}",
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system": "redis",
                    "db.system.name": "redis",
                    "db.operation.name": call,
                },
            )
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
