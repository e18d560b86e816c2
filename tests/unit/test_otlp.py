"""observability/otlp.py: the spans' OTLP/protobuf bytes are the SDK encoder's, byte for byte,
and the exporter sends them as the SDK's exporter does."""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as SDKSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import TraceState

from wren import _compat
from wren.observability import otlp
from wren.observability.otlp import Encoder, OTLPSpanExporter, encode_request


def sdk_bytes(spans: Sequence[ReadableSpan]) -> bytes:
    return encode_spans(spans).SerializePartialToString()  # type: ignore[no-any-return]


def recorded(provider: TracerProvider) -> InMemorySpanExporter:
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return memory


def test_spans_of_the_sdk_encode_to_its_bytes() -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "wren", "n": 2}))
    memory = recorded(provider)
    tracer = provider.get_tracer("wren", "1.0", schema_url="https://opentelemetry.io/schemas/1.0")
    attributes: dict[str, Any] = {
        "s": "text",
        "empty": "",
        "unicode": "été ✓ 𝄞",
        "i": 42,
        "zero": 0,
        "negative": -7,
        "big": 2**63 - 1,
        "least": -(2**63),
        "f": 1.5,
        "negative zero": -0.0,
        "inf": math.inf,
        "t": True,
        "false": False,
        "strings": ["a", "", "b"],
        "ints": [1, -2, 3],
        "floats": [0.5, -1.25],
        "bools": [True, False],
        "none of them": [],
    }
    with tracer.start_as_current_span("GET /graphql", kind=SpanKind.SERVER, attributes=attributes):
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT) as child:
            child.set_attribute("db.system", "postgresql")
            child.add_event("retry", {"attempt": 2, "why": "timeout"})
            child.set_status(Status(StatusCode.ERROR, "the database is down"))
        with tracer.start_as_current_span("ok") as fine:
            fine.set_status(Status(StatusCode.OK))
        try:
            with tracer.start_as_current_span("raises", kind=SpanKind.INTERNAL):
                raise ValueError("no")
        except ValueError:
            pass
        for kind in (SpanKind.PRODUCER, SpanKind.CONSUMER):
            tracer.start_span("messaging", kind=kind).end()
    spans = memory.get_finished_spans()
    assert any(span.events for span in spans)  # an exception event among them
    assert encode_request(spans) == sdk_bytes(spans)


def test_remote_parents_trace_states_and_links() -> None:
    provider = TracerProvider()
    memory = recorded(provider)
    tracer = provider.get_tracer("wren")
    remote = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "value"), ("other", "x")]),
    )
    local = SpanContext(trace_id=5, span_id=6, is_remote=False)
    parent = trace.set_span_in_context(trace.NonRecordingSpan(remote))
    links = [Link(remote, {"why": "batch"}), Link(local)]
    tracer.start_span("POST /graphql", context=parent, links=links).end()
    tracer.start_span("root", context=otel_context.Context()).end()
    spans = memory.get_finished_spans()
    assert spans[0].parent is not None
    assert spans[0].parent.is_remote
    assert encode_request(spans) == sdk_bytes(spans)


def test_dropped_attributes_events_and_links_are_counted() -> None:
    limits = SpanLimits(max_span_attributes=2, max_events=1, max_links=1, max_event_attributes=1)
    provider = TracerProvider(span_limits=limits)
    memory = recorded(provider)
    tracer = provider.get_tracer("wren")
    links = [Link(SpanContext(1, 2, False)), Link(SpanContext(3, 4, False))]
    with tracer.start_as_current_span("many", links=links) as span:
        span.set_attributes({"a": 1, "b": 2, "c": 3})
        span.add_event("one", {"x": 1, "y": 2})
        span.add_event("two")
    spans = memory.get_finished_spans()
    assert spans[0].dropped_attributes
    assert spans[0].dropped_events
    assert spans[0].dropped_links
    assert encode_request(spans) == sdk_bytes(spans)


def test_several_resources_and_scopes_group_as_the_sdk_groups_them() -> None:
    first = TracerProvider(resource=Resource.create({"service.name": "a"}))
    second = TracerProvider(resource=Resource.create({"service.name": "b"}, "https://s/1"))
    memory = recorded(first)
    second.add_span_processor(SimpleSpanProcessor(memory))
    one = first.get_tracer("one")
    two = first.get_tracer("two", "2.0", attributes={"scope.attr": "v"})
    other = second.get_tracer("one")
    for tracer, name in [(one, "1"), (other, "2"), (two, "3"), (one, "4"), (other, "5")]:
        tracer.start_span(name).end()
    spans = memory.get_finished_spans()
    assert encode_request(spans) == sdk_bytes(spans)
    # Equal resources that are distinct objects group together (by equality, as the SDK's).
    again = TracerProvider(resource=Resource.create({"service.name": "a"}))
    again.add_span_processor(SimpleSpanProcessor(memory))
    again.get_tracer("one").start_span("6").end()
    spans = memory.get_finished_spans()
    assert spans[-1].resource is not spans[0].resource
    assert encode_request(spans) == sdk_bytes(spans)


def _readable(**fields: Any) -> ReadableSpan:
    context = SpanContext(trace_id=1 << 100, span_id=77, is_remote=False)
    defaults: dict[str, Any] = {
        "name": "span",
        "context": context,
        "resource": Resource.create({}),
        "start_time": 1,
        "end_time": 2,
        "instrumentation_scope": InstrumentationScope("wren"),
    }
    return ReadableSpan(**{**defaults, **fields})


def test_values_the_sdk_spans_never_hold_encode_as_the_sdk_encodes_them() -> None:
    attributes = {
        "none": None,
        "bytes": b"\x00\xff",
        "empty bytes": b"",
        "map": {"k": 1, "nested": {"x": [1, "a"]}},
        "mixed": (1, True, "s", 1.0, None),
        "": "empty key",
    }
    spans = [
        _readable(attributes=attributes),
        _readable(start_time=None, end_time=None, status=None, kind=SpanKind.CLIENT),
        _readable(instrumentation_scope=None, name=""),
        _readable(events=[Event("", {}, timestamp=0)]),
    ]
    assert encode_request(spans) == sdk_bytes(spans)


def test_an_attribute_that_cannot_be_encoded_is_left_out_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spans = [_readable(attributes={"too big": 2**64, "kept": "yes", "odd": object()})]
    with caplog.at_level(logging.ERROR, logger="wren.tracing"):
        ours = encode_request(spans)
    assert ours == sdk_bytes(spans)
    assert (
        ExportTraceServiceRequest.FromString(ours)
        .resource_spans[0]
        .scope_spans[0]
        .spans[0]
        .attributes[0]
        .key
        == "kept"
    )
    assert "too big" in caplog.text
    assert "odd" in caplog.text


def test_equal_values_of_other_types_are_not_confused_by_what_is_kept() -> None:
    encoder = Encoder()
    spans = [
        _readable(attributes={"v": 1, "f": 0.0, "t": (1, 1)}),
        _readable(attributes={"v": True, "f": -0.0, "t": (1, True)}),
        _readable(attributes={"v": 1.0, "f": 0.0, "t": (1.0, 1)}),
    ]
    for span in spans:  # one encoder for all: what it keeps from one span serves the next
        assert encoder.request([span]) == sdk_bytes([span])


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 2 else 5)
    if kind == 0:
        return "".join(rng.choice("ab é✓\n\x00") for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.choice([0, 1, -1, 127, 128, 2**31, 2**63 - 1, -(2**63), rng.getrandbits(40)])
    if kind == 2:
        return rng.choice([0.0, -0.0, 0.1, -1e300, math.inf, -math.inf, rng.random()])
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(4)))
    if kind == 5:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 6:
        return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randrange(3))}
    return None


def _random_span(rng: random.Random, resources: list[Resource]) -> ReadableSpan:
    def attributes() -> dict[str, Any]:
        return {f"a{i}": _random_value(rng) for i in range(rng.randrange(5))}

    def context() -> SpanContext:
        state = TraceState([("k", "v")]) if rng.random() < 0.3 else None
        return SpanContext(
            rng.getrandbits(128) or 1, rng.getrandbits(64) or 1, rng.random() < 0.5, None, state
        )

    status = rng.choice(
        [Status(), Status(StatusCode.OK), Status(StatusCode.ERROR, rng.choice(["", "why", "é"]))]
    )
    events = [
        Event(f"e{i}", attributes(), timestamp=rng.getrandbits(62)) for i in range(rng.randrange(3))
    ]
    links = [Link(context(), attributes()) for _ in range(rng.randrange(3))]
    return ReadableSpan(
        name=rng.choice(["query Timeline", "SELECT", "", "loader posts"]),
        context=context(),
        parent=context() if rng.random() < 0.7 else None,
        resource=rng.choice(resources),
        attributes=attributes(),
        events=events,
        links=links,
        kind=rng.choice(list(SpanKind)),
        instrumentation_scope=rng.choice(
            [InstrumentationScope("wren"), InstrumentationScope("x", "1", "https://s"), None]
        ),
        status=status,
        start_time=rng.getrandbits(63),
        end_time=rng.getrandbits(63),
    )


def test_random_batches_encode_to_the_sdk_encoders_bytes() -> None:
    rng = random.Random(20261203)
    resources = [
        Resource.create({"service.name": "wren"}),
        Resource({"a": 1}, "https://schema"),
        Resource({}),
    ]
    encoder = Encoder()
    for _ in range(300):
        spans = [_random_span(rng, resources) for _ in range(rng.randrange(1, 6))]
        expected = sdk_bytes(spans)
        assert encoder.request(spans) == expected
        assert encode_request(spans) == expected


INT64 = 1 << 63
# -- properties: varied spans, byte for byte the SDK encoder's (hypothesis)

texts = st.text(max_size=12) | st.sampled_from(["", "é", "日本語", "🦆", "a" * 200, "\x00"])
ints = st.integers(-INT64, INT64 - 1) | st.sampled_from([0, 1, -1, 127, 128, INT64 - 1, -INT64])
floats = st.floats(allow_nan=False) | st.sampled_from([0.0, -0.0, math.inf, -math.inf, 1e-310])
scalars = st.one_of(texts, st.booleans(), ints, floats, st.binary(max_size=8))
# What the SDK's attribute cleaning lets through: scalars and homogeneous sequences of them.
sequences = st.one_of(
    st.lists(texts, max_size=4),
    st.lists(st.booleans(), max_size=4),
    st.lists(ints, max_size=4),
    st.lists(floats, max_size=4),
).map(tuple)
# What the SDK's encoder handles beyond that (attributes set on a ReadableSpan directly):
# None, nested and mixed sequences, mappings.
nested = st.recursive(
    scalars | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
values = st.one_of(scalars, sequences, nested)
attributes = st.dictionaries(texts, values, max_size=6)
ids = st.integers(1, (1 << 64) - 1)
trace_ids = st.integers(1, (1 << 128) - 1)
times = st.none() | st.integers(0, (1 << 64) - 1)
contexts = st.builds(
    SpanContext,
    trace_id=trace_ids,
    span_id=ids,
    is_remote=st.booleans(),
    trace_flags=st.sampled_from([TraceFlags(0), TraceFlags(1)]),
    trace_state=st.sampled_from(
        [None, TraceState(), TraceState([("vendor", "v1")]), TraceState([("a", "1"), ("b", "x-y")])]
    ),
)
statuses = st.one_of(
    st.sampled_from([Status(StatusCode.UNSET), Status(StatusCode.OK)]),
    st.builds(Status, st.just(StatusCode.ERROR), st.none() | texts),
)
events = st.builds(Event, name=texts, attributes=st.none() | attributes, timestamp=ids)
links = st.builds(Link, context=contexts, attributes=st.none() | attributes)

RESOURCES = [
    Resource({"service.name": "wren", "service.instance.id": "a"}),
    Resource({"service.name": "wren", "service.instance.id": "a"}),  # equal, not the same
    Resource({"service.name": "other", "n": 3}, "https://opentelemetry.io/schemas/1.21.0"),
    Resource({}),
]
SCOPES = [
    None,
    InstrumentationScope("wren"),
    InstrumentationScope("wren"),  # equal, not the same
    InstrumentationScope("wren.db", "1.2", "https://opentelemetry.io/schemas/1.21.0", {"k": 1}),
    # Equal to the one above (scopes compare by name, version and schema URL only).
    InstrumentationScope("wren.db", "1.2", "https://opentelemetry.io/schemas/1.21.0", {"k": 2}),
    InstrumentationScope("", ""),
]

spans = st.builds(
    ReadableSpan,
    name=texts,
    context=contexts,
    parent=st.none() | contexts,
    resource=st.sampled_from(RESOURCES),
    attributes=st.none() | attributes,
    events=st.lists(events, max_size=3),
    links=st.lists(links, max_size=2),
    kind=st.sampled_from(list(SpanKind)),
    status=statuses,
    start_time=times,
    end_time=times,
    instrumentation_scope=st.sampled_from(SCOPES),
)
batches = st.lists(spans, max_size=8)
SHARED = Encoder()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_varied_batches_encode_to_the_sdk_encoders_bytes(batch: list[ReadableSpan]) -> None:
    """Byte for byte and parsed back equal; an encoder kept across examples (its tables
    filled by earlier batches) writes the same as a fresh one."""
    expected = sdk_bytes(batch)
    assert encode_request(batch) == expected
    assert SHARED.request(batch) == expected
    assert ExportTraceServiceRequest.FromString(SHARED.request(batch)) == encode_spans(batch)


def test_spans_are_read_through_the_sdks_collections() -> None:
    """An SDK span's attributes, events and links with their dropped counts are read from
    its BoundedAttributes and BoundedLists directly, and equal what its properties give;
    a span of another type is read through the properties, and encodes the same."""
    provider = TracerProvider(span_limits=SpanLimits(max_span_attributes=1, max_events=1))
    memory = recorded(provider)
    with provider.get_tracer("wren").start_as_current_span("s", attributes={"a": 1, "b": 2}) as s:
        s.add_event("one")
        s.add_event("two")
    span = memory.get_finished_spans()[0]
    read = _compat.span_parts_reader()
    assert read is not _compat.public_span_parts
    parts = read(span)
    assert parts[7] is span._attributes._dict  # type: ignore[attr-defined]
    assert parts[9] is span._events._dq  # type: ignore[attr-defined]
    assert normal(parts) == normal(_compat.public_span_parts(span))
    assert parts[8] == 1  # dropped attributes
    assert parts[10] == 1  # dropped events
    plain = _readable(attributes={"k": "v"}, parent=SpanContext(3, 4, True))
    assert normal(read(plain)) == normal(_compat.public_span_parts(plain))

    class Other(ReadableSpan):
        @property
        def attributes(self) -> Any:
            return {"from": "the property"}

    other = Other("o", SpanContext(1, 2, False), attributes={"ignored": 1})
    assert dict(read(other)[7] or {}) == {"from": "the property"}
    assert encode_request([other]) == sdk_bytes([other])
    assert b"the property" in encode_request([other])


def normal(parts: _compat.SpanParts) -> tuple[Any, ...]:
    listed = list(parts)
    listed[7] = dict(listed[7] or {})
    listed[9], listed[11] = tuple(listed[9]), tuple(listed[11])
    return tuple(listed)


PUBLIC = Encoder()
PUBLIC._parts = _compat.public_span_parts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_varied_batches_read_through_the_properties_encode_alike(
    batch: list[ReadableSpan],
) -> None:
    """Where the SDK's internals are not the known ones, spans are read through their
    properties: the same bytes."""
    assert PUBLIC.request(batch) == sdk_bytes(batch)


def test_the_attribute_table_starts_again_when_full() -> None:
    """Values seen once fill the table; it is emptied then, so a value that repeats is
    kept again afterwards."""
    encoder = Encoder()
    for n in range(otlp._KEPT_ATTRIBUTES + 1):
        encoder.attributes(b"\x4a", {"user.id": n})
    table = encoder._attributes[b"\x4a"]
    assert len(table) == 1
    encoder.attributes(b"\x4a", {"db.query.text": "SELECT 1"})
    assert ("db.query.text", "SELECT 1", str) in table
    span = _readable(attributes={"db.query.text": "SELECT 1", "user.id": 5})
    assert encoder.request([span]) == sdk_bytes([span])


# -- the exporter, against a real HTTP receiver


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[bytes]
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        self.send_response(type(self).status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"bodies": [], "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    finally:
        server.shutdown()
        server.server_close()


def _spans() -> Sequence[ReadableSpan]:
    provider = TracerProvider(resource=Resource.create({"service.name": "wren"}))
    memory = recorded(provider)
    tracer = provider.get_tracer("wren")
    with tracer.start_as_current_span("query Timeline", kind=SpanKind.SERVER):
        tracer.start_span(
            "SELECT", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}
        ).end()
    return memory.get_finished_spans()


def test_the_exporter_posts_what_the_sdks_exporter_posts(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    endpoint, handler = receiver
    spans = _spans()
    assert SDKSpanExporter(endpoint=endpoint).export(spans) is SpanExportResult.SUCCESS
    assert OTLPSpanExporter(endpoint=endpoint).export(spans) is SpanExportResult.SUCCESS
    assert len(handler.bodies) == 2
    assert handler.bodies[0] == handler.bodies[1] == sdk_bytes(spans)


def test_the_exporter_uses_its_own_encoding(
    receiver: tuple[str, type[_Receiver]], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, handler = receiver
    calls: list[int] = []
    exporter = OTLPSpanExporter(endpoint=endpoint)
    encode = exporter._encoder.request

    def counted(spans: Sequence[ReadableSpan]) -> bytes:
        calls.append(len(spans))
        return encode(spans)

    monkeypatch.setattr(exporter._encoder, "request", counted)
    assert exporter.export(_spans()) is SpanExportResult.SUCCESS
    assert calls == [2]
    assert len(handler.bodies) == 1


def test_where_the_internals_differ_the_sdks_export_runs(
    receiver: tuple[str, type[_Receiver]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Elsewhere:
        _shutdown = False

    assert _compat.otlp_export(Elsewhere(), [], encode_request) is None  # type: ignore[arg-type]
    endpoint, handler = receiver
    monkeypatch.setattr(_compat, "otlp_export", lambda *args: None)
    spans = _spans()
    exporter = OTLPSpanExporter(endpoint=endpoint)
    with caplog.at_level(logging.DEBUG, "wren.tracing"):
        assert exporter.export(spans) is SpanExportResult.SUCCESS
        assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert handler.bodies == [sdk_bytes(spans)] * 2
    said = [r for r in caplog.records if "not the ones known" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.DEBUG]  # once


def test_a_batch_over_the_size_limit_is_dropped(
    receiver: tuple[str, type[_Receiver]], caplog: pytest.LogCaptureFixture
) -> None:
    endpoint, handler = receiver
    exporter = OTLPSpanExporter(endpoint=endpoint, max_request_size=10)
    with caplog.at_level(logging.WARNING):
        assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert handler.bodies == []
    assert "exceeds max_request_size" in caplog.text


def test_a_refused_export_fails_and_a_shut_down_exporter_sends_nothing(
    receiver: tuple[str, type[_Receiver]],
) -> None:
    endpoint, handler = receiver
    handler.status = 400  # (not retried)
    exporter = OTLPSpanExporter(endpoint=endpoint)
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert len(handler.bodies) == 1
    exporter.shutdown()  # type: ignore[no-untyped-call]
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
    assert len(handler.bodies) == 1


def test_the_public_properties_are_read_where_the_sdks_collections_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import opentelemetry.sdk.util

    class Elsewhere:
        """A BoundedList of another generation (no deque)."""

        def __init__(self, maxlen: int | None) -> None:
            self.dropped = 0

    monkeypatch.setattr(opentelemetry.sdk.util, "BoundedList", Elsewhere)
    assert _compat.span_parts_reader() is _compat.public_span_parts
