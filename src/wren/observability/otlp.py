"""Spans to OTLP/protobuf, written as bytes: what the SDK's OTLP/HTTP exporter sends, cheaper.

The SDK's exporter builds a protobuf message object per span, per attribute and per value
(`encode_spans` in opentelemetry-exporter-otlp-proto-common) and serializes them: about
110,000 instructions per span in the exporter's thread, more than a whole UserByHandle
request for one of its four spans. This writes the same `ExportTraceServiceRequest` wire
format directly (tags, varints, lengths): the resource's and the instrumentation scope's
blocks are written once per batch and kept while they are the same objects, and each
attribute's field is kept by (key, value) in a bounded table, emptied when full (a
statement's text, its name, the operation's name repeat from span to span; ids do not,
and must not keep them out for good). An SDK span is read in one call from its own
attributes and collections (wren._compat.span_parts_reader): its properties cost a Python
call each, and `attributes`, `events` and `links` copy. Per span, in a batch of 512
spans like a UserByHandle request's (callgrind): the SDK's encoder 191,600
instructions, this one 32,500.

`encode_request(spans)` gives the bytes the SDK's encoder gives for the same spans: the
same messages, grouped by resource and scope in the same order, fields in the order
protobuf writes them (tests/unit/test_otlp.py compares the two byte for byte, over every
attribute type, events, links, statuses, remote parents and several resources). The
exporter, `OTLPSpanExporter`, is the SDK's with this encoder (wren._compat.otlp_export: the
SDK's export steps around it); where its internals are not the ones known, the SDK's own
`export` runs.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as SDKSpanExporter,
)
from opentelemetry.trace import SpanKind
from opentelemetry.trace.span import DEFAULT_TRACE_STATE as _NO_STATE

from wren import _compat

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

log = logging.getLogger("wren.tracing")

_pack_double = struct.Struct("<d").pack
_pack_fixed64 = struct.Struct("<Q").pack
_pack_fixed32 = struct.Struct("<I").pack
_ONE_BYTE = [bytes((n,)) for n in range(128)]
_INT64 = 1 << 63
# Span.kind: OTLP's SpanKind numbers (SPAN_KIND_INTERNAL is 1: 0 is UNSPECIFIED).
_KIND = [b""] * len(SpanKind)
for _kind, _field in {
    SpanKind.INTERNAL: b"\x30\x01",
    SpanKind.SERVER: b"\x30\x02",
    SpanKind.CLIENT: b"\x30\x03",
    SpanKind.PRODUCER: b"\x30\x04",
    SpanKind.CONSUMER: b"\x30\x05",
}.items():
    # By the enum's value (`_value_`, a plain attribute: a member's hash and `.value`
    # are Python calls).
    _KIND[_kind.value] = _field
# Span.flags (fixed32, field 16): SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK, and _IS_REMOTE.
_LOCAL_PARENT = b"\x85\x01" + _pack_fixed32(0x100)
_REMOTE_PARENT = b"\x85\x01" + _pack_fixed32(0x300)
# Span.status (field 15) without a message, by code: a set, possibly empty, Status.
_STATUS = [b"\x7a\x00", b"\x7a\x02\x18\x01", b"\x7a\x02\x18\x02"]
# The tags of Span fields 1 (16 bytes), 2 and 4 (8 bytes), placed to be or-ed with ids
# and written as one integer's bytes.
_TRACE_TAG = 0x0A10 << 128
_SPAN_TAG = 0x1208 << 64
_PARENT_TAG = 0x2208 << 64
# Start and end time (fixed64 fields 7 and 8) in one call.
_pack_times = struct.Struct("<BQBQ").pack
# Encoded attributes kept, by (key, value, type of value): at most this many.
_KEPT_ATTRIBUTES = 4096


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field."""
    return tag + _varint(len(payload)) + payload


def _value(value: Any) -> bytes:
    """An AnyValue's fields (the SDK's `_encode_value`: its types, in its order)."""
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, str):
        return _len(b"\x0a", value.encode())
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise ValueError(f"Value out of range: {value}")
        return b"\x18" + _varint(value if value >= 0 else value + (1 << 64))
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    if isinstance(value, bytes):
        return _len(b"\x3a", value)
    if isinstance(value, Sequence):
        return _len(b"\x2a", b"".join([_len(b"\x0a", _value(item)) for item in value]))
    if isinstance(value, Mapping):
        pairs = [_len(b"\x0a", _key_value(str(k), v)) for k, v in value.items()]
        return _len(b"\x32", b"".join(pairs))
    raise TypeError(f"Invalid type {type(value)} of value {value}")


def _key_value(key: str, value: Any) -> bytes:
    """A KeyValue's fields."""
    encoded = key.encode()
    head = _len(b"\x0a", encoded) if encoded else b""
    return head + _len(b"\x12", _value(value))


class Encoder:
    """Batches of spans to ExportTraceServiceRequest bytes, keeping what repeats."""

    def __init__(self) -> None:
        # Per field tag, (key, value, type of value) -> the whole field (tag, length,
        # KeyValue): equal values of different types encode apart (True and 1).
        self._attributes: dict[bytes, dict[tuple[str, object, type[object]], bytes]] = {}
        self._resources: dict[int, tuple[Resource, bytes]] = {}
        self._scopes: dict[int, tuple[InstrumentationScope | None, bytes]] = {}
        self._parts = _compat.span_parts_reader()

    def attributes(self, tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
        """Each attribute as a `tag` field (a KeyValue); one that cannot be encoded is
        left out and logged, as the SDK's encoder does."""
        if not attributes:
            return []
        kept = self._attributes.get(tag)
        if kept is None:
            kept = self._attributes[tag] = {}
        fields = []
        for key, value in attributes.items():
            # Kept for strings and integers only: equal values of other types may
            # encode apart (-0.0 and 0.0; (1, True) and (1, 1)).
            kind = type(value)
            index = (key, value, kind) if kind is str or kind is int or kind is bool else None
            field = None if index is None else kept.get(index)
            if field is None:
                try:
                    payload = _key_value(key, value)
                except Exception as error:
                    log.exception("Failed to encode key %s: %s", key, error)
                    continue
                field = tag + _varint(len(payload)) + payload
                if index is not None:
                    # Full: start again, so that values seen once (ids, handles) do not
                    # keep the ones that repeat (statements, names) out for good.
                    if len(kept) >= _KEPT_ATTRIBUTES:
                        kept.clear()
                    kept[index] = field
            fields.append(field)
        return fields

    def span(self, span: ReadableSpan) -> bytes:
        """A Span message (the SDK's `_encode_span`)."""
        (
            context,
            parent,
            name,
            kind,
            start,
            end,
            status,
            attributes,
            dropped_attributes,
            events,
            dropped_events,
            links,
            dropped_links,
        ) = self._parts(span)
        # Fields 1 and 2, trace and span id, in one integer's bytes.
        fields = [
            ((context.trace_id | _TRACE_TAG) << 80 | _SPAN_TAG | context.span_id).to_bytes(
                28, "big"
            )
        ]
        state = context.trace_state
        # Most spans have the API's one empty TraceState (its length is a Python call).
        if state is not _NO_STATE and state:
            fields.append(_len(b"\x1a", ",".join([f"{k}={v}" for k, v in state.items()]).encode()))
        if parent:
            fields.append((_PARENT_TAG | parent.span_id).to_bytes(10, "big"))
        if name:
            fields.append(_len(b"\x2a", name.encode()))
        fields.append(_KIND[kind._value_])
        if start and end:
            fields.append(_pack_times(0x39, start, 0x41, end))
        else:
            if start:
                fields.append(b"\x39" + _pack_fixed64(start))
            if end:
                fields.append(b"\x41" + _pack_fixed64(end))
        if attributes:
            fields += self.attributes(b"\x4a", attributes)
        if dropped_attributes:
            fields.append(b"\x50" + _varint(dropped_attributes))
        for event in events:
            event_fields = [b"\x09" + _pack_fixed64(event.timestamp)] if event.timestamp else []
            event_name = event.name.encode()
            if event_name:
                event_fields.append(_len(b"\x12", event_name))
            event_fields += self.attributes(b"\x1a", event.attributes)
            if event.dropped_attributes:
                event_fields.append(b"\x20" + _varint(event.dropped_attributes))
            fields.append(_len(b"\x5a", b"".join(event_fields)))
        if dropped_events:
            fields.append(b"\x60" + _varint(dropped_events))
        for link in links:
            linked = link.context
            link_fields = [
                b"\x0a\x10",
                linked.trace_id.to_bytes(16, "big"),
                b"\x12\x08",
                linked.span_id.to_bytes(8, "big"),
                *self.attributes(b"\x22", link.attributes),
            ]
            if link.dropped_attributes:
                link_fields.append(b"\x28" + _varint(link.dropped_attributes))
            link_fields.append(b"\x35" + _pack_fixed32(0x300 if linked.is_remote else 0x100))
            fields.append(_len(b"\x6a", b"".join(link_fields)))
        if dropped_links:
            fields.append(b"\x70" + _varint(dropped_links))
        if status is not None:
            code = status.status_code._value_
            if status.description:
                status_fields = _len(b"\x12", status.description.encode())
                if code:
                    status_fields += b"\x18" + _varint(code)
                fields.append(_len(b"\x7a", status_fields))
            else:
                fields.append(_STATUS[code])
        fields.append(_REMOTE_PARENT if parent is not None and parent.is_remote else _LOCAL_PARENT)
        return b"".join(fields)

    def resource(self, resource: Resource) -> bytes:
        """A Resource message's field of a ResourceSpans (its attributes)."""
        kept = self._resources.get(id(resource))
        if kept is not None and kept[0] is resource:
            return kept[1]
        encoded = _len(b"\x0a", b"".join(self.attributes(b"\x0a", resource.attributes)))
        if len(self._resources) >= 16:
            self._resources.clear()
        # The resource is kept beside its bytes: its id is not reused meanwhile.
        self._resources[id(resource)] = (resource, encoded)
        return encoded

    def scope(self, scope: InstrumentationScope | None) -> bytes:
        """An InstrumentationScope's field of a ScopeSpans."""
        kept = self._scopes.get(id(scope))
        if kept is not None and kept[0] is scope:
            return kept[1]
        fields = []
        if scope is not None:
            if scope.name:
                fields.append(_len(b"\x0a", scope.name.encode()))
            if scope.version:
                fields.append(_len(b"\x12", scope.version.encode()))
            fields += self.attributes(b"\x1a", scope.attributes)
        encoded = _len(b"\x0a", b"".join(fields))
        if len(self._scopes) >= 16:
            self._scopes.clear()
        self._scopes[id(scope)] = (scope, encoded)
        return encoded

    def request(self, spans: Sequence[ReadableSpan]) -> bytes:
        """An ExportTraceServiceRequest of `spans`, grouped by resource, then by scope, in
        the order each first appears (as the SDK's encoder groups them)."""
        groups: dict[Resource, dict[InstrumentationScope | None, list[bytes]]] = {}
        # By identity first (one provider's spans share their Resource, whose hash is a
        # JSON dump of its attributes, and their tracer's scope, hashed in Python), by
        # equality as the SDK's grouping. The spans hold both: no id is reused meanwhile.
        same: dict[tuple[int, int], list[bytes]] = {}
        for span in spans:
            resource = span.resource
            scope = span.instrumentation_scope or None
            encoded = same.get((id(resource), id(scope)))
            if encoded is None:
                scopes = groups.get(resource)
                if scopes is None:
                    scopes = groups[resource] = {}
                encoded = scopes.get(scope)
                if encoded is None:
                    encoded = scopes[scope] = []
                same[id(resource), id(scope)] = encoded
            payload = self.span(span)
            encoded.append(_varint(len(payload)) + payload)
        out = []
        for resource, scopes in groups.items():
            fields = [self.resource(resource)]
            for scope, encoded in scopes.items():
                scope_fields = [self.scope(scope)]
                for span_bytes in encoded:
                    scope_fields.append(b"\x12")
                    scope_fields.append(span_bytes)
                if scope is not None and scope.schema_url:
                    scope_fields.append(_len(b"\x1a", scope.schema_url.encode()))
                fields.append(_len(b"\x12", b"".join(scope_fields)))
            if resource.schema_url:
                fields.append(_len(b"\x1a", resource.schema_url.encode()))
            out.append(_len(b"\x0a", b"".join(fields)))
        return b"".join(out)


class OTLPSpanExporter(SDKSpanExporter):
    """The SDK's OTLP/HTTP span exporter (the same settings, requests, retries, limits and
    metrics), encoding with `Encoder` instead of the SDK's protobuf messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._encoder = Encoder()
        self._stepped_aside = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = _compat.otlp_export(self, spans, self._encoder.request)
        if result is not None:
            return result
        if not self._stepped_aside and not self._shutdown:
            self._stepped_aside = True
            log.debug(
                "tracing: the OTLP exporter's internals are not the ones known; "
                "its own export encodes the spans"
            )
        return super().export(spans)


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The ExportTraceServiceRequest bytes of `spans` (a fresh Encoder's)."""
    return Encoder().request(spans)
