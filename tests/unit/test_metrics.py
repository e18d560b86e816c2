"""Observed: a histogram's observations counted apart and added when synced give the
samples prometheus-client's own `observe` gives."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Histogram

from wren.observability.metrics import DURATION_BUCKETS, STATEMENT_BUCKETS, Observed

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
