"""OpenTelemetry traces, configured by the standard OTEL_* variables.

Tracing is on when OTEL_TRACES_EXPORTER names an exporter (`otlp`: OTLP over HTTP with
protobuf, to OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT; `console`), or when only an OTLP
endpoint is set; off with neither, with `none`, or with OTEL_SDK_DISABLED=true. The SDK
itself reads the rest: OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (the service is
`wren` unless they name one), OTEL_TRACES_SAMPLER[_ARG] (default: parentbased_always_on),
OTEL_BSP_* for the batching of exports.

The provider is Wren's own, not the global one: a library in the same process that
traces through the global API neither changes it nor is changed by it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    TraceIdRatioBased,
)
from opentelemetry.trace import format_span_id, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.trace import SpanContext

log = logging.getLogger("wren.tracing")

PROPAGATOR = TraceContextTextMapPropagator()
EXPORTERS = ("otlp", "console", "none")


class PresetIds(IdGenerator):
    """Random ids, except a trace id chosen beforehand for the next root span.

    A request without a traceparent is sampled by Wren itself on a fresh trace id: an
    unsampled one (most, at a low ratio) then costs no span at all (the SDK's
    start_span for a span that records nothing cost 10 us, 1.5 % of a small request).
    A sampled one gets its span from the SDK with the trace id the sampler was asked
    about, so the ratio is the one configured.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()
        self._next: int | None = None

    def preset(self, trace_id: int) -> None:
        """The trace id of the next root span."""
        self._next = trace_id

    def generate_trace_id(self) -> int:
        """The preset trace id once, else a random one."""
        found, self._next = self._next, None
        return self._random.generate_trace_id() if found is None else found

    def generate_span_id(self) -> int:
        """A random span id."""
        return self._random.generate_span_id()


def root_bound(sampler: Sampler) -> int | None:
    """The bound under which a root span's trace id (its low 64 bits) is sampled, for the
    SDK's samplers that decide a root by its trace id alone (the OTEL_TRACES_SAMPLER ones
    but `parentbased_jaeger_remote` and `xray`); None for any other sampler, to be asked.

    Asking `should_sample` for a root request took 20 Python calls (the parent looked
    up in the current context twice, a SamplingResult built): most of what an unsampled
    request cost at a ratio of 0.01.
    """
    if type(sampler) in (ParentBased, ParentBasedTraceIdRatio):
        # The SDK has no public accessor of the root sampler (tests/http/test_tracing.py
        # checks this reading against the sampler's own decisions).
        sampler = sampler._root  # type: ignore[attr-defined]
    if sampler is ALWAYS_ON:
        return TraceIdRatioBased.TRACE_ID_LIMIT + 1
    if sampler is ALWAYS_OFF:
        return 0
    if type(sampler) is TraceIdRatioBased:
        return sampler.bound
    return None


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter()
    # The SDK's OTLP/HTTP exporter with Wren's encoding of the spans (otlp.py); imported
    # only when asked for (it brings `requests`).
    from wren.observability.otlp import OTLPSpanExporter

    return OTLPSpanExporter()


def exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for (none: tracing is off)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    value = environ.get("OTEL_TRACES_EXPORTER")
    if value is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {', '.join(unknown)} "
            f"(known: {', '.join(EXPORTERS)})"
        )
    return [name for name in names if name != "none"]


def provider_from_environment(environ: Mapping[str, str]) -> TracerProvider | None:
    """A tracer provider exporting as OTEL_* says, or None when tracing is off."""
    names = exporters(environ)
    if not names:
        return None
    named = "OTEL_SERVICE_NAME" in environ or "service.name=" in environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    )
    provider = TracerProvider(
        resource=Resource.create({} if named else {"service.name": "wren"}),
        id_generator=PresetIds(),
    )
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    log.info("tracing: exporting spans to %s", ", ".join(names))
    return provider


def traceresponse(context: SpanContext) -> str:
    """The `traceresponse` header of a span (W3C Trace Context Level 2)."""
    flags = "01" if context.trace_flags.sampled else "00"
    return f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{flags}"
