"""Wren's own spans: what the SDK's `Tracer.start_span` makes, for the spans Wren itself
starts when it knows the sampler's answer beforehand (a request it sampled on its own draw,
tracing.root_bound, and every span below a sampled one).

The SDK's way, per span, took about 160,000 instructions on the request's thread: the
parent looked up in the context twice, the sampler asked and its SamplingResult built,
three TraceFlags, the SDK's own span metrics asked, a BoundedAttributes that takes a lock
and cleans every attribute one Python call each, two BoundedLists, and at its end a second
object (the ReadableSpan handed to the processors) copied from the first. A sampled
UserByHandle makes four. `LeanSpan` is that span's state in the fields ReadableSpan reads,
set once, and handed itself to the processors when it ends; it is a ReadableSpan (every
processor and exporter takes it as the SDK's own) and an API Span (`trace.use_span`,
`set_span_in_context` and `get_current_span` take it).

`Spans.of` makes them only where they come out as the SDK's would (otherwise the SDK
makes every span, as before): an SDK tracer (`_compat.sdk_tracer_parts`) that is
enabled, without the SDK's own span metrics, with span limits Wren's few attributes stay
within untouched (no length limit on a value: a statement's text is whole), and a sampler
that samples every child of a sampled span and decides a root by its trace id alone.
tests/unit/test_spans.py compares them with the SDK's, field by field, for each kind of
span Wren makes.

Their attributes are Wren's own (str, int, bool), so nothing is cleaned; they are made,
changed and ended on the event loop's thread, so nothing is locked (the SDK's lock guards
a span shared between threads); an exporter reads one only once it has ended.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from time import time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from wren import _compat
from wren.observability.tracing import root_bound

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer
    from opentelemetry.util import types

log = logging.getLogger("wren.tracing")

__all__ = ["LeanSpan", "Spans"]

_UNSET = Status(StatusCode.UNSET)
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
# Wren's spans carry at most six attributes, an exception event four.
_LEAST_COUNTS = 16


class Spans:
    """What every span of one tracer shares, and the making of its sampled spans."""

    __slots__ = (
        "_random_roots",
        "_span_id",
        "info",
        "on_end",
        "on_ending",
        "on_start",
        "resource",
        "scope",
    )

    def __init__(self, parts: _compat.TracerParts) -> None:
        self.resource = parts.resource
        self.scope = parts.scope
        self.info = parts.info
        self.on_start = parts.processor.on_start
        self.on_ending = parts.on_ending
        self.on_end = parts.processor.on_end
        self._span_id = parts.id_generator.generate_span_id
        # A root's flags as the SDK sets them: sampled, and its trace id random when the
        # id generator says its ids are.
        random = parts.id_generator.is_trace_id_random()
        self._random_roots = _SAMPLED_RANDOM if random else _SAMPLED

    @classmethod
    def of(cls, provider: TracerProvider, tracer: Tracer) -> Spans | None:
        """The spans of `tracer`, or None where the SDK has to make them itself."""
        parts = _compat.sdk_tracer_parts(tracer)
        if parts is None or not parts.enabled or parts.counts_spans:
            return None
        limits = parts.limits
        if (
            limits.max_span_attribute_length is not None
            or limits.max_attribute_length is not None
            or any(
                count is not None and count < _LEAST_COUNTS
                for count in (
                    limits.max_span_attributes,
                    limits.max_events,
                    limits.max_event_attributes,
                    limits.max_links,
                )
            )
        ):
            return None
        sampler = provider.sampler
        if root_bound(sampler) is None or not _compat.samples_sampled_children(sampler):
            return None
        return cls(parts)

    def root(
        self, name: str, trace_id: int, kind: SpanKind, attributes: Mapping[str, Any]
    ) -> LeanSpan:
        """A sampled root span on `trace_id` (sampled by Wren's own draw)."""
        context = SpanContext(trace_id, self._span_id(), False, self._random_roots)
        return LeanSpan(self, name, context, None, kind, attributes)

    def child(
        self, parent: SpanContext, name: str, kind: SpanKind, attributes: Mapping[str, Any]
    ) -> LeanSpan:
        """A span below `parent`, a sampled span of this process."""
        flags = _SAMPLED_RANDOM if parent.trace_flags & TraceFlags.RANDOM_TRACE_ID else _SAMPLED
        context = SpanContext(parent.trace_id, self._span_id(), False, flags, parent.trace_state)
        return LeanSpan(self, name, context, parent, kind, attributes)


class LeanSpan(trace.Span, ReadableSpan):
    """A sampled span, started when made, handed to the processors as it is once ended."""

    def __init__(
        self,
        spans: Spans,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: Mapping[str, Any],
    ) -> None:
        # The fields ReadableSpan's properties read (as ReadableSpan.__init__ sets them).
        self._name = name
        self._context = context
        self._kind = kind
        self._instrumentation_info = spans.info
        self._instrumentation_scope = spans.scope
        self._parent = parent
        self._end_time: int | None = None
        self._attributes: dict[str, Any] = dict(attributes)
        self._events: tuple[Event, ...] = ()
        self._links: tuple[Link, ...] = ()
        self._resource = spans.resource
        self._status = _UNSET
        self._spans = spans
        self._start_time = time_ns()
        spans.on_start(self, parent_context=None)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f'{type(self).__name__}(name="{self._name}", context={self._context})'

    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]  # (never None here)

    def is_recording(self) -> bool:
        return self._end_time is None

    def _ended(self, doing: str) -> bool:
        if self._end_time is None:
            return False
        log.warning("tracing: %s on an ended span (%s)", doing, self._name)
        return True

    # An attribute set again moves to the end, as in the SDK's BoundedAttributes (the
    # order an exporter sends them in).
    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if not self._ended("setting an attribute"):
            held = self._attributes
            held.pop(key, None)
            held[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if not self._ended("setting attributes"):
            held = self._attributes
            for key, value in attributes.items():
                held.pop(key, None)
                held[key] = value

    def update_name(self, name: str) -> None:
        if not self._ended("renaming"):
            self._name = name

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        if not self._ended("adding an event"):
            self._events += (Event(name, dict(attributes or {}), timestamp),)

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        # (as the SDK: a link to an invalid context only with something to say)
        valid = context and (context.is_valid or attributes or context.trace_state)
        if valid and not self._ended("adding a link"):
            self._links += (Link(context, dict(attributes or {})),)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """As the SDK's: a status once OK stays; UNSET changes nothing."""
        if self._ended("setting the status"):
            return
        if not isinstance(status, Status):
            status = Status(status, description)
        elif description is not None:
            log.warning("tracing: a Status and a description: the description is ignored")
        if self._status.status_code is StatusCode.OK or status.status_code is StatusCode.UNSET:
            return
        self._status = status

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        """The `exception` event, with the attributes the SDK gives it."""
        kind = type(exception)
        module = kind.__module__
        fields: dict[str, Any] = {
            "exception.type": (
                f"{module}.{kind.__qualname__}"
                if module and module != "builtins"
                else kind.__qualname__
            ),
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            fields.update(attributes)
        self.add_event("exception", fields, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended("ending"):
            return
        self._end_time = time_ns() if end_time is None else end_time
        spans = self._spans
        if spans.on_ending is not None:
            spans.on_ending(self)
        spans.on_end(self)

    # ReadableSpan's `events` and `links` copy what they hold into a tuple; these are tuples.
    @property
    def events(self) -> Sequence[Event]:
        return self._events

    @property
    def links(self) -> Sequence[Link]:
        return self._links
