"""Traces, into the SDK's in-memory exporter: the request's span named after the
operation, a span per SQL statement and loader batch inside it, W3C trace context in and
out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    DEFAULT_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode, Tracer, format_span_id

from tests.conftest import free_port, operation, timeline_statements
from wren.app import create_app
from wren.observability import CURRENT, Record, Telemetry
from wren.observability.spans import LeanSpan
from wren.observability.tracing import PresetIds, exporters, root_bound
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


@asynccontextmanager
async def traced(
    settings: Settings, sampler: Sampler | None = None, *, preset: bool = False
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, InMemorySpanExporter]]:
    """An app tracing into memory (with the ids of the environment's provider when
    `preset`), and a client for it."""
    exporter = InMemorySpanExporter()
    options: dict[str, Any] = {"id_generator": PresetIds()} if preset else {}
    if sampler is not None:
        options["sampler"] = sampler
    provider = TracerProvider(**options)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    changed = Settings(_env_file=None, **{**settings.model_dump(), "pool_size": 4})  # type: ignore[call-arg]
    app = create_app(changed, telemetry=Telemetry(changed, tracer_provider=provider))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as http:
            yield app, http, exporter


def timeline(first: int = 5) -> dict[str, Any]:
    return {"query": operation("Timeline"), "variables": {"first": first}}


async def traced_post(
    http: httpx.AsyncClient, exporter: InMemorySpanExporter, body: dict[str, Any]
) -> tuple[httpx.Response, tuple[ReadableSpan, ...], dict[int, ReadableSpan], ReadableSpan]:
    """A request with a sampled traceparent, answered without errors: its response, the
    spans finished, them by span id, and its server span."""
    response = await http.post(
        "/graphql", json=body, headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
    )
    assert response.status_code == 200
    assert "errors" not in response.json()
    spans = exporter.get_finished_spans()
    [server] = [span for span in spans if span.kind is SpanKind.SERVER]
    return response, spans, {span.context.span_id: span for span in spans}, server


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[ReadableSpan]:
    found = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        found.append(span)
    return found


async def test_timeline_has_one_span_per_statement_inside_its_request_span(
    settings: Settings,
) -> None:
    async with traced(settings) as (app, http, exporter):
        statements: list[str] = []
        with app.state.resources.db.watching(lambda sql, _: statements.append(sql)):
            response, spans, by_id, server = await traced_post(http, exporter, timeline())
        assert server.name == "query Timeline"
        assert server.attributes is not None
        assert server.attributes["graphql.operation.name"] == "Timeline"
        assert server.attributes["graphql.operation.type"] == "query"
        assert (
            server.attributes["wren.graphql.cost"]
            == response.json()["extensions"]["cost"]["estimated"]
        )
        assert server.attributes["http.response.status_code"] == 200
        # traceparent honoured on the way in ...
        assert {f"{span.context.trace_id:032x}" for span in spans} == {TRACE_ID}
        assert server.parent is not None
        assert format_span_id(server.parent.span_id) == PARENT_ID
        # ... and the trace visible on the way out (W3C Trace Context Level 2).
        assert response.headers["traceresponse"] == (
            f"00-{TRACE_ID}-{format_span_id(server.context.span_id)}-01"
        )
        sql = [s for s in spans if s.attributes and s.attributes.get("db.system") == "postgresql"]
        # One span per SQL statement: as many as test_statements_per_operation counts.
        assert len(statements) == timeline_statements(settings)
        assert len(sql) == len(statements)
        assert sorted(str(s.attributes["db.query.text"]) for s in sql if s.attributes) == sorted(
            statements
        )
        for span in sql:
            assert span.kind is SpanKind.CLIENT
            assert span.name == "SELECT"
            assert server in ancestors(span, by_id)
        loaders = [s for s in spans if s.name.startswith("loader ")]
        # On the fast path the page's statement renders all of it: no loader.
        assert {s.name for s in loaders} == (
            set()
            if settings.compiled_queries
            else {
                "loader like_count_by_post",
                "loader comments_by_post",
                "loader comment_count_by_post",
            }
        )
        for span in loaders:
            assert span.attributes is not None
            assert span.attributes["wren.loader.batch_size"] == 5
        names = {span.name for span in spans}
        assert {"graphql.parse", "graphql.validate", "graphql.execute"} <= names

        # A cached document is neither parsed nor validated again.
        exporter.clear()
        await http.post("/graphql", json=timeline())
        names = {span.name for span in exporter.get_finished_spans()}
        assert "graphql.parse" not in names
        assert "graphql.validate" not in names
        assert "graphql.execute" in names


async def test_each_redis_call_has_a_client_span_inside_its_request_span(
    settings: Settings,
) -> None:
    async with traced(settings) as (app, http, exporter):
        cache = app.state.resources.cache
        assert await cache.bump_epoch()  # nothing kept from an earlier test
        profile = {"query": operation("Profile"), "variables": {"handle": "alice"}}
        _, spans, by_id, server = await traced_post(http, exporter, profile)
        redis = [s for s in spans if s.attributes and s.attributes.get("db.system") == "redis"]
        # The stats and the recommendations are read from the cache, then written to it.
        assert {"redis read", "redis write"} <= {span.name for span in redis}
        for span in redis:
            assert span.kind is SpanKind.CLIENT
            assert span.attributes is not None
            assert span.name == f"redis {span.attributes['db.operation.name']}"
            assert span.attributes["db.system.name"] == "redis"
            assert server in ancestors(span, by_id)
            assert span.status.status_code is StatusCode.UNSET


async def test_a_new_trace_without_traceparent(settings: Settings) -> None:
    async with traced(settings) as (_, http, exporter):
        response = await http.post("/graphql", json={"query": "query Tiny { __typename }"})
        [server] = exporter.get_finished_spans()[-1:]
        assert server.name == "query Tiny"
        assert server.parent is None
        version, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
        assert (version, flags) == ("00", "01")
        assert trace_id == f"{server.context.trace_id:032x}"
        assert span_id == format_span_id(server.context.span_id)


async def test_an_unsampled_request_records_nothing_below_it(settings: Settings) -> None:
    async with traced(settings, ALWAYS_OFF) as (_, http, exporter):
        response = await http.post("/graphql", json=timeline())
        assert response.status_code == 200
        assert exporter.get_finished_spans() == ()
        assert response.headers["traceresponse"].endswith("-00")


async def test_requests_sampled_before_any_span_keep_the_configured_ratio(
    settings: Settings,
) -> None:
    sampler = TraceIdRatioBased(0.5)
    async with traced(settings, sampler, preset=True) as (_, http, exporter):
        headers = [
            (await http.post("/graphql", json={"query": "{ __typename }"})).headers["traceresponse"]
            for _ in range(40)
        ]
        spans = exporter.get_finished_spans()
    sampled, unsampled = set(), set()
    for header in headers:
        _, trace_id, _, flags = header.split("-")
        # The decision is the sampler's own for the trace id the client is told.
        decision = sampler.should_sample(None, int(trace_id, 16), "POST /graphql").decision
        assert decision.is_sampled() == (flags == "01")
        (sampled if flags == "01" else unsampled).add(trace_id)
    assert sampled
    assert unsampled
    assert {f"{span.context.trace_id:032x}" for span in spans} == sampled


async def test_a_request_sampled_out_with_metrics_and_access_line(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wren.access")
    changed = Settings(
        _env_file=None,
        **{**settings.model_dump(), "metrics_port": free_port(), "access_log": True},  # type: ignore[call-arg]
    )
    async with traced(changed, ParentBasedTraceIdRatio(0.0), preset=True) as (app, http, exporter):
        response = await http.post("/graphql", json=timeline())
        app.state.telemetry.metrics.sync()
        statements = app.state.telemetry.metrics.registry.get_sample_value(
            "wren_graphql_operation_sql_statements_sum",
            {"operation_name": "Timeline", "operation_type": "query"},
        )
    assert exporter.get_finished_spans() == ()
    _, trace_id, span_id, flags = response.headers["traceresponse"].split("-")
    assert flags == "00"
    assert len(trace_id) == 32
    assert len(span_id) == 16
    assert int(trace_id, 16)
    assert int(span_id, 16)
    [line] = [record for record in caplog.records if record.name == "wren.access"]
    assert line.fields["trace_id"] == trace_id  # type: ignore[attr-defined]
    assert line.fields["sql_statements"] == timeline_statements(settings)  # type: ignore[attr-defined]
    assert statements == timeline_statements(settings)


class CountingTracer:
    """A tracer that counts the spans asked of it (recording or not)."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.started = 0

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        self.started += 1
        return self.tracer.start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        self.started += 1
        return self.tracer.start_as_current_span(*args, **kwargs)


@pytest.mark.parametrize(("ratio", "sampled"), [(0.0, False), (1.0, True)])
async def test_a_request_sampled_out_asks_for_no_span_at_all(
    settings: Settings, ratio: float, sampled: bool
) -> None:
    async with traced(settings, ParentBasedTraceIdRatio(ratio), preset=True) as (
        app,
        http,
        exporter,
    ):
        telemetry = app.state.telemetry
        counting = telemetry.tracer = CountingTracer(telemetry.tracer)
        statements: list[str] = []
        with app.state.resources.db.watching(lambda sql, _: statements.append(sql)):
            response = await http.post("/graphql", json=timeline())
        assert response.status_code == 200
        assert "errors" not in response.json()
        assert len(statements) == timeline_statements(settings)
        assert response.headers["traceresponse"].endswith("-01" if sampled else "-00")
        # Sampled on Wren's own draw or not, the SDK's tracer is asked for no span: a
        # request sampled out has none, a sampled one only Wren's own (spans.py).
        assert counting.started == 0
        if sampled:
            # The request, parse, validate, execute, a batch per loader (the statements
            # but the posts page's), a span per statement.
            spans = exporter.get_finished_spans()
            assert len(spans) == 4 + 2 * len(statements) - 1
            assert {type(span) for span in spans} == {LeanSpan}
        else:
            assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize(
    "sampler",
    [
        ParentBasedTraceIdRatio(0.01),
        ParentBasedTraceIdRatio(0.5),
        TraceIdRatioBased(0.25),
        DEFAULT_ON,
        ParentBased(ALWAYS_OFF),
        ALWAYS_ON,
        ALWAYS_OFF,
    ],
)
def test_roots_are_sampled_by_trace_id_as_the_sampler_would(sampler: Sampler) -> None:
    bound = root_bound(sampler)
    assert bound is not None
    limit = TraceIdRatioBased.TRACE_ID_LIMIT
    ids = [1, limit, limit + 1, (1 << 128) - 1]
    ids += [(n * 0x9E3779B97F4A7C15_F39CC0605CEDC834) % (1 << 128) or 1 for n in range(1, 500)]
    if 0 < bound <= limit:
        ids += [bound - 1, bound, bound + 1, (7 << 64) | (bound - 1), (7 << 64) | bound]
    for trace_id in ids:
        decision = sampler.should_sample(None, trace_id, "POST /graphql").decision
        sampled = decision.is_sampled()  # type: ignore[no-untyped-call]
        assert sampled == (trace_id & limit < bound), hex(trace_id)


def test_other_samplers_are_asked() -> None:
    assert root_bound(StaticSampler(Decision.RECORD_ONLY)) is None
    assert root_bound(ParentBased(StaticSampler(Decision.RECORD_ONLY))) is None


def test_tracing_follows_the_standard_variables() -> None:
    assert exporters({}) == []
    assert exporters({"OTEL_TRACES_EXPORTER": "none"}) == []
    assert exporters({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}) == ["otlp"]
    assert exporters({"OTEL_TRACES_EXPORTER": "otlp,console"}) == ["otlp", "console"]
    sdk_off = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}
    assert exporters(sdk_off) == []
    with pytest.raises(ValueError, match="zipkin"):
        exporters({"OTEL_TRACES_EXPORTER": "zipkin"})


def test_a_step_span_is_current_and_records_an_exception_as_the_sdk_does(
    settings: Settings,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(settings, tracer_provider=provider)
    record = Record("POST")
    record.recording = True

    def steps() -> None:
        with telemetry.span("outer") as outer:
            with telemetry.span("inner") as inner:
                assert trace.get_current_span() is inner
            assert trace.get_current_span() is outer
            raise ValueError("boom")

    def cancelled() -> None:
        with telemetry.span("cancelled"):
            raise asyncio.CancelledError

    token = CURRENT.set(record)
    try:
        with pytest.raises(ValueError, match="boom"):
            steps()
        with pytest.raises(asyncio.CancelledError):
            cancelled()
    finally:
        CURRENT.reset(token)
    assert trace.get_current_span() is trace.INVALID_SPAN
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert spans["inner"].parent is not None
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["inner"].status.status_code is StatusCode.UNSET
    assert spans["outer"].status.status_code is StatusCode.ERROR
    assert spans["outer"].status.description == "ValueError: boom"
    assert [event.name for event in spans["outer"].events] == ["exception"]
    # Not an error (as the SDK's use_span): a cancellation leaves the span unmarked.
    assert spans["cancelled"].status.status_code is StatusCode.UNSET
    assert spans["cancelled"].events == ()
