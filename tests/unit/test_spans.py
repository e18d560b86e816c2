"""observability/spans.py: Wren's own spans come out as the SDK's Tracer.start_span makes
them, field by field and in their OTLP bytes, and are made only where they can."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    StaticSampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from wren import _compat
from wren.observability import CURRENT, Record, Telemetry
from wren.observability.otlp import Encoder
from wren.observability.spans import LeanSpan, Spans
from wren.observability.tracing import PresetIds
from wren.settings import Settings

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C


def provider_with_memory(**options: Any) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "wren"}), id_generator=PresetIds(), **options
    )
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def parents() -> list[SpanContext]:
    """Sampled parents of this process and remote ones, with and without a trace state and
    the random-trace-id flag."""
    state = TraceState([("vendor", "value"), ("other", "1")])
    random_sampled = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
    return [
        SpanContext(TRACE_ID, 0xB7AD6B7169203331, False, TraceFlags(TraceFlags.SAMPLED)),
        SpanContext(TRACE_ID, 0xB7AD6B7169203331, True, TraceFlags(TraceFlags.SAMPLED), state),
        SpanContext(TRACE_ID, 0x1, False, random_sampled, state),
    ]


Steps = Callable[[trace.Span], None]


def nothing(span: trace.Span) -> None:
    pass


def described(span: trace.Span) -> None:
    span.update_name("query Timeline")
    span.set_attributes({"graphql.operation.type": "query", "wren.graphql.cost": 12})
    span.set_attribute("http.response.status_code", 200)
    span.set_attribute("flag", True)


def failed(span: trace.Span) -> None:
    try:
        raise ValueError("boom")
    except ValueError as error:
        span.record_exception(error, attributes={"extra": 1})
        span.set_status(Status(StatusCode.ERROR, "ValueError: boom"))
    span.set_status(StatusCode.OK)  # (an ERROR may become OK, as the SDK has it)
    span.set_status(Status(StatusCode.ERROR, "ignored once OK"))


def evented(span: trace.Span) -> None:
    span.add_event("first", {"n": 1}, timestamp=1_000)
    span.add_event("second")
    span.add_link(SpanContext(TRACE_ID, 0x42, True), {"why": "retry"})
    span.add_link(trace.INVALID_SPAN_CONTEXT)  # (nothing to say: dropped, as the SDK does)
    span.set_status(StatusCode.UNSET)  # (changes nothing)


def after_the_end(span: trace.Span) -> None:
    span.end()
    span.set_attribute("late", 1)
    span.set_attributes({"later": 2})
    span.update_name("renamed")
    span.add_event("late")
    span.set_status(StatusCode.ERROR)


STEPS = [nothing, described, failed, evented, after_the_end]


def fields(span: ReadableSpan) -> dict[str, Any]:
    """What an exporter reads of a span, but its span id and times."""
    context = span.context
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind,
        "trace_id": context.trace_id,
        "is_remote": context.is_remote,
        "trace_flags": int(context.trace_flags),
        "trace_state": context.trace_state.to_header(),
        "parent": span.parent,
        "attributes": dict(span.attributes or {}),
        "events": [
            (event.name, dict(event.attributes or {}), event.timestamp == 1_000)
            for event in span.events
        ],
        "links": [(link.context, dict(link.attributes or {})) for link in span.links],
        "status": (span.status.status_code, span.status.description),
        "resource": span.resource,
        "scope": span.instrumentation_scope,
        "dropped": (span.dropped_attributes, span.dropped_events, span.dropped_links),
        "ended": span.end_time is not None and span.start_time is not None,
        "ordered": (span.start_time or 0) <= (span.end_time or 0),
    }


def made_both_ways(
    steps: Steps, parent: SpanContext | None, kind: SpanKind, attributes: dict[str, Any]
) -> tuple[ReadableSpan, ReadableSpan]:
    """The same span, made by the SDK's tracer and by Wren's Spans, through `steps`."""
    provider, memory = provider_with_memory()
    tracer = provider.get_tracer("wren")
    spans = Spans.of(provider, tracer)
    assert spans is not None
    ids = provider.id_generator
    assert isinstance(ids, PresetIds)
    made: list[trace.Span] = []
    if parent is None:
        ids.preset(TRACE_ID)
        made.append(tracer.start_span("POST /graphql", kind=kind, attributes=attributes))
        made.append(spans.root("POST /graphql", TRACE_ID, kind, attributes))
    else:
        context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
        made.append(tracer.start_span("SELECT", context, kind=kind, attributes=attributes))
        made.append(spans.child(parent, "SELECT", kind, attributes))
    for span in made:
        steps(span)
        span.end()
    sdk, lean = memory.get_finished_spans()
    assert type(lean) is LeanSpan
    assert type(sdk) is not LeanSpan
    return sdk, lean


def same_bytes(sdk: ReadableSpan, lean: ReadableSpan) -> None:
    """Both encode alike (the SDK's encoder and Wren's, and as JSON), once ids and times are
    the same."""
    lean_read: Any = lean
    sdk_read: Any = sdk
    lean_read._context = sdk.context
    lean_read._start_time, lean_read._end_time = sdk.start_time, sdk.end_time
    lean_read._events = tuple(
        type(event)(event.name, event.attributes, sdk_event.timestamp)
        for event, sdk_event in zip(lean.events, sdk.events, strict=True)
    )
    assert sdk_read._attributes.dropped == 0
    want = encode_spans([sdk]).SerializePartialToString()
    assert encode_spans([lean]).SerializePartialToString() == want
    assert Encoder().request([lean]) == Encoder().request([sdk]) == want
    # and the console exporter writes them alike
    assert json.loads(lean.to_json()) == json.loads(sdk.to_json())


@pytest.mark.parametrize("steps", STEPS, ids=lambda steps: steps.__name__)
@pytest.mark.parametrize("kind", [SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL])
def test_a_root_is_the_sdks_root_on_the_same_trace_id(steps: Steps, kind: SpanKind) -> None:
    attributes = {"http.request.method": "POST", "http.route": "/graphql"}
    sdk, lean = made_both_ways(steps, None, kind, attributes)
    assert fields(lean) == fields(sdk)
    assert lean.parent is None
    same_bytes(sdk, lean)


@pytest.mark.parametrize("steps", STEPS, ids=lambda steps: steps.__name__)
@pytest.mark.parametrize("parent", parents(), ids=["local", "remote", "random-with-state"])
def test_a_child_is_the_sdks_child_of_the_same_parent(steps: Steps, parent: SpanContext) -> None:
    attributes = {"db.system": "postgresql", "db.query.text": "SELECT 1", "n": 3}
    sdk, lean = made_both_ways(steps, parent, SpanKind.CLIENT, attributes)
    assert fields(lean) == fields(sdk)
    assert lean.parent == parent
    same_bytes(sdk, lean)


values = st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.booleans())
names = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=12)


@examples(max_examples=60, deadline=None)
@given(
    first=st.dictionaries(names, values, max_size=6),
    later=st.lists(st.dictionaries(names, values, min_size=1, max_size=3), max_size=6),
    root=st.booleans(),
)
def test_varied_attributes_come_out_as_the_sdks(
    first: dict[str, Any], later: list[dict[str, Any]], root: bool
) -> None:
    def steps(span: trace.Span) -> None:
        for attributes in later:
            if len(attributes) == 1:
                span.set_attribute(*next(iter(attributes.items())))
            else:
                span.set_attributes(attributes)

    sdk, lean = made_both_ways(steps, None if root else parents()[0], SpanKind.INTERNAL, first)
    assert fields(lean) == fields(sdk)
    same_bytes(sdk, lean)


def test_the_attributes_given_are_copied_not_kept() -> None:
    provider, _ = provider_with_memory()
    spans = Spans.of(provider, provider.get_tracer("wren"))
    assert spans is not None
    attributes = {"db.system": "postgresql"}
    span = spans.child(parents()[0], "SELECT", SpanKind.CLIENT, attributes)
    span.set_attribute("more", 1)
    assert attributes == {"db.system": "postgresql"}


def test_a_span_ended_twice_is_handed_on_once(caplog: pytest.LogCaptureFixture) -> None:
    provider, memory = provider_with_memory()
    spans = Spans.of(provider, provider.get_tracer("wren"))
    assert spans is not None
    span = spans.child(parents()[0], "SELECT", SpanKind.CLIENT, {})
    assert span.is_recording()
    span.end()
    assert not span.is_recording()
    with caplog.at_level(logging.WARNING, "wren.tracing"):
        span.end()
    assert len(memory.get_finished_spans()) == 1
    assert "ending on an ended span" in caplog.text


def test_a_lean_span_is_current_as_any_span() -> None:
    provider, _ = provider_with_memory()
    spans = Spans.of(provider, provider.get_tracer("wren"))
    assert spans is not None
    span = spans.child(parents()[0], "step", SpanKind.INTERNAL, {})
    with trace.use_span(span, end_on_exit=True):
        assert trace.get_current_span() is span
    assert not span.is_recording()


@pytest.mark.parametrize(
    "sampler",
    [
        ParentBasedTraceIdRatio(0.01),
        ParentBased(ALWAYS_ON),
        ParentBased(ALWAYS_OFF),
        TraceIdRatioBased(0.5),
        ALWAYS_ON,
        ALWAYS_OFF,
    ],
)
def test_made_for_the_samplers_that_sample_every_child_of_a_sampled_span(
    sampler: Sampler,
) -> None:
    provider = TracerProvider(sampler=sampler)
    assert Spans.of(provider, provider.get_tracer("wren")) is not None
    # A parent on a trace id the ratio samplers sample.
    parent = SpanContext(1, 0xB7AD6B7169203331, False, TraceFlags(TraceFlags.SAMPLED))
    context = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    decision = sampler.should_sample(context, parent.trace_id, "SELECT").decision
    # (a sampled parent is one the sampler sampled: ALWAYS_OFF never has one)
    assert decision is Decision.RECORD_AND_SAMPLE or sampler is ALWAYS_OFF


@pytest.mark.parametrize(
    "sampler",
    [
        StaticSampler(Decision.RECORD_ONLY),
        ParentBased(ALWAYS_ON, local_parent_sampled=ALWAYS_OFF),
        ParentBased(StaticSampler(Decision.RECORD_AND_SAMPLE)),
    ],
)
def test_not_made_for_other_samplers(sampler: Sampler) -> None:
    provider = TracerProvider(sampler=sampler)
    assert Spans.of(provider, provider.get_tracer("wren")) is None


@pytest.mark.parametrize(
    "limits",
    [
        SpanLimits(max_span_attribute_length=10),
        SpanLimits(max_attribute_length=10),
        SpanLimits(max_span_attributes=3),
        SpanLimits(max_events=0),
        SpanLimits(max_event_attributes=2),
        SpanLimits(max_links=1),
    ],
)
def test_not_made_under_span_limits_that_could_change_them(limits: SpanLimits) -> None:
    provider = TracerProvider(span_limits=limits)
    assert Spans.of(provider, provider.get_tracer("wren")) is None
    assert Spans.of(TracerProvider(), TracerProvider().get_tracer("wren")) is not None


def test_not_made_when_the_sdk_counts_its_spans(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED", "true")
    provider = TracerProvider()
    tracer = provider.get_tracer("wren")
    parts = _compat.sdk_tracer_parts(tracer)
    assert parts is not None
    assert parts.counts_spans
    assert Spans.of(provider, tracer) is None


def test_not_made_for_a_tracer_that_is_not_the_sdks() -> None:
    provider = TracerProvider()
    assert _compat.sdk_tracer_parts(trace.NoOpTracer()) is None
    assert Spans.of(provider, trace.NoOpTracer()) is None


def statements_under(telemetry: Telemetry, *statements: tuple[SpanContext, str]) -> Record:
    """Each SQL statement run by `telemetry` with its parent current, in a recording
    request (its Record, returned)."""
    record = Record("POST")
    record.recording = True

    async def run() -> int:
        return 1

    async def each() -> None:
        for parent, sql in statements:
            with trace.use_span(trace.NonRecordingSpan(parent)):
                assert await telemetry.statement(sql, run) == 1

    token = CURRENT.set(record)
    try:
        asyncio.run(each())
    finally:
        CURRENT.reset(token)
    return record


def test_the_sdk_makes_every_span_where_wren_does_not(settings: Settings) -> None:
    """Under a value-length limit the statement span's text is cut as the SDK cuts it."""
    provider, memory = provider_with_memory(span_limits=SpanLimits(max_span_attribute_length=8))
    telemetry = Telemetry(settings, tracer_provider=provider)
    assert telemetry._spans is None
    record = statements_under(telemetry, (parents()[0], "SELECT id FROM users"))
    [span] = memory.get_finished_spans()
    assert type(span) is not LeanSpan
    assert span.attributes is not None
    assert span.attributes["db.query.text"] == "SELECT i"
    assert record.statements == 1


def test_telemetry_makes_its_spans_below_a_sampled_one(settings: Settings) -> None:
    provider, memory = provider_with_memory()
    telemetry = Telemetry(settings, tracer_provider=provider)
    assert telemetry._spans is not None
    record = statements_under(
        telemetry,
        (parents()[0], "SELECT 1"),
        (SpanContext(TRACE_ID, 0x5, False), "SELECT 2"),  # (the sampler asked: not sampled)
        (parents()[1], "SELECT 3"),  # (a remote parent: the SDK's, by its remote rules)
    )
    span, remote_child = memory.get_finished_spans()
    assert type(span) is LeanSpan
    assert span.parent == parents()[0]
    assert span.attributes is not None
    assert span.attributes["db.query.text"] == "SELECT 1"
    assert type(remote_child) is not LeanSpan
    assert remote_child.parent == parents()[1]
    assert record.statements == 3
