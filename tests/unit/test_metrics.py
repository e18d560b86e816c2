"""Observed: a histogram's observations counted apart and added when synced give the
samples prometheus-client's own `observe` gives."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from wren.http.request import IndexedHeaders
from wren.observability import CURRENT, Telemetry
from wren.observability.metrics import DURATION_BUCKETS, STATEMENT_BUCKETS, Observed
from wren.settings import Settings

VALUES = [0, 0.0005, 0.001, 0.0011, 0.0025, 0.003, 0.1, 7.5, 9.99, 10.0, 11.0, 1e9, 1, 2, 4]


def samples(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.name, sample.labels.get("le", "")): sample.value
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def pair(
    buckets: tuple[float, ...],
) -> tuple[CollectorRegistry, Histogram, CollectorRegistry, Histogram]:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    return (
        theirs,
        Histogram("h", "h", ["k"], buckets=buckets, registry=theirs),
        ours,
        Histogram("h", "h", ["k"], buckets=buckets, registry=ours),
    )


def test_observed_histograms_match_prometheus_clients() -> None:
    for buckets in (DURATION_BUCKETS, STATEMENT_BUCKETS):
        theirs, their_histogram, ours, our_histogram = pair(buckets)
        observed = Observed(our_histogram.labels("v"))
        for value in VALUES:
            their_histogram.labels("v").observe(value)
            observed.observe(value)
        assert samples(ours) != samples(theirs)  # nothing added before a sync
        observed.add()
        assert samples(ours) == samples(theirs)


def test_each_sync_adds_what_was_observed_since_the_last() -> None:
    theirs, their_histogram, ours, our_histogram = pair(DURATION_BUCKETS)
    observed = Observed(our_histogram.labels("v"))
    for value in VALUES:
        their_histogram.labels("v").observe(value)
        observed.observe(value)
        observed.add()
        assert samples(ours) == samples(theirs)
    observed.add()
    assert samples(ours) == samples(theirs)


def test_metrics_alone_make_no_record_current_and_keep_few() -> None:
    """With metrics alone a request's Record is one per method, never current; the
    methods kept are bounded (the method is the client's)."""
    settings = Settings(_env_file=None, metrics_port=9100)  # type: ignore[call-arg]
    telemetry = Telemetry(settings, environ={})
    headers = IndexedHeaders({"type": "http", "headers": []})
    first = telemetry.begin("r1", "POST", headers)
    assert CURRENT.get() is None
    assert telemetry.begin("r2", "POST", headers) is first
    assert not isinstance(first, str)
    telemetry.finish(first, 200, 0.001)
    for i in range(100):
        record = telemetry.begin(f"r{i}", f"M{i}", headers)
        assert not isinstance(record, str)
        assert record.method == f"M{i}"
    assert len(telemetry._bare) <= 32
