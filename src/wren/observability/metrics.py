"""Prometheus metrics: names and labels, what the hot path records, and what is synced.

Two kinds of measurements, chosen by cost:

    observed   once per request, operation, statement, loader batch or Redis call, where
               the value is only known there (durations, sizes, codes): a counter child,
               or a histogram's `Observed` (the value appended to a plain list, bucketed
               and added to the histogram when synced), looked up in a dict of our own,
               never through `.labels()`
    synced     counts the process keeps anyway as plain ints (document cache, fast-path
               fallbacks, cache results, events) and gauges (pool, breaker, subscriptions):
               copied into their metrics at scrape time (one process) or every second
               (`wren serve --workers N`, prometheus-client's multiprocess mode, where a
               scrape reads every worker's files)

Histograms' observations are synced the same way, and by the event loop itself after
SYNC_EVERY requests without a sync: a scrape of one process is exact; under several
workers a scrape shows each worker's observations up to its last sync (at most a second
old, and every one of a stopping worker's, added at shutdown).

Names follow the OpenTelemetry semantic conventions where one exists (`http.server.request
.duration` is `http_server_request_duration_seconds`, `db.client.connection.count` is
`db_client_connection_count`), in Prometheus form; Wren's own are `wren_*`.

The `operation_name` label is bounded: the first `WREN_METRICS_OPERATION_NAMES` distinct
names of documents that validated keep their name (every name, with trusted documents only:
the registered ones bound them); any other name, and anonymous operations, are `other`.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from wren.cache.responses import ResponseCache
    from wren.cache.store import CacheStore
    from wren.db.engine import Database
    from wren.events.bus import Events
    from wren.pipeline import Pipeline
    from wren.settings import Settings

OTHER = "other"

# Seconds: OpenTelemetry's advice for http.server.request.duration, with 1 and 2.5 ms added
# (most operations take a few milliseconds).
DURATION_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
WAIT_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)
REDIS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
COST_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 50)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# Requests after which the event loop adds the histograms' observations itself, when no
# scrape (or, with several workers, the every-second sync) did: the values kept between
# two syncs stay bounded.
SYNC_EVERY = 1024

# Codes of the refusals by a limit (wren_requests_refused_total's `limit` label).
LIMIT_CODES = frozenset(
    {
        "PAYLOAD_TOO_LARGE",
        "TOO_MANY_TOKENS",
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_DIRECTIVES",
        "TOO_MANY_FIELDS",
        "QUERY_TOO_COSTLY",
        "BATCHING_DISABLED",
        "BATCH_TOO_LARGE",
        "RATE_LIMITED",
        "DEADLINE_EXCEEDED",
    }
)
CACHE_RESULTS = ("hit", "miss", "shared", "error")
# prometheus-client's process collector, as gauges per worker under multiprocess mode.
PROCESS_GAUGES = {
    "process_cpu_seconds_total": "Total user and system CPU time spent in seconds.",
    "process_resident_memory_bytes": "Resident memory size in bytes.",
    "process_open_fds": "Number of open file descriptors.",
    "process_start_time_seconds": "Start time of the process since unix epoch in seconds.",
}


def multiprocess() -> bool:
    """Whether prometheus-client writes every value to PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class OperationNames:
    """The bounded set of operation names used as label values."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()

    def label(self, name: str | None) -> str:
        """The label value of an operation that validated."""
        if name is None:
            return OTHER
        if name in self._seen:
            return name
        if len(self._seen) < self.limit:
            self._seen.add(name)
            return name
        return OTHER

    def known(self, name: str | None) -> str:
        """The label value of a name from a document that did not validate (never added)."""
        if name is not None and name in self._seen:
            return name
        return OTHER


class Observed:
    """A histogram's observations (or a labelled child's), kept as plain values and
    added to it when synced.

    prometheus-client's `observe` checks the metric, takes a lock for the sum and another
    for the bucket it finds by walking the bounds in Python; counting buckets on the hot
    path (a bisect and two additions, after a child lookup) was still 280 of the 822
    Python opcodes metrics added to a UserByHandle request (about 2.5 % of it). Here
    an observation is a list append; `add` sorts what was observed since it last ran
    and counts each bucket with one bisect per bound, all in C. Only the event loop's
    thread appends; `add` (a scrape's thread, or the loop) takes the first values and
    deletes exactly those (each one C call under the GIL), so an observation made during
    a sync is added by the next one, never lost.

    A value known to be 0 (the pool wait of a read that found a connection kept for it,
    one per read) is counted instead (`at_once += 1`, by the event loop only): `add` adds
    those counted since it last ran, by the difference from the count it last saw.
    """

    __slots__ = ("_added_at_once", "_bounds", "_histogram", "_values", "append", "at_once")

    def __init__(self, histogram: Histogram) -> None:
        self._histogram = histogram
        self._bounds: list[float] = histogram._upper_bounds  # see tests/unit/test_metrics.py
        self._values: list[float] = []
        self.append = self._values.append  # the hot path's observe
        self.at_once = 0  # observations of 0 (see above)
        self._added_at_once = 0

    def observe(self, value: float) -> None:
        """One observation (in the bucket whose bound is the first at least `value`)."""
        self._values.append(value)

    def add(self) -> None:
        """Add the observations made since the last call to the histogram."""
        values = self._values
        count = len(values)
        at_once = self.at_once
        zeros = at_once - self._added_at_once
        if not count and not zeros:
            return
        self._added_at_once = at_once
        taken = values[:count]
        del values[:count]
        self.add_values(taken, zeros)

    def add_values(self, taken: list[float], zeros: int = 0) -> None:
        """Add these observations (and `zeros` of 0) to the histogram: per bucket, and
        their sum (`sum`, in C: a tenth of what `reduce(add, ...)` took)."""
        buckets = self._histogram._buckets
        taken_sorted = sorted(taken)
        below = 0
        for i, bound in enumerate(self._bounds):
            upto = bisect_right(taken_sorted, bound) + (zeros if bound >= 0 else 0)
            if upto != below:
                buckets[i].inc(upto - below)
                below = upto
        if taken:
            self._histogram._sum.inc(sum(taken, 0.0))


class OperationSeries:
    """The histograms' children one operation (by name and type) observes.

    An operation appends one tuple (duration, cost, statements, SQL time) to `append`,
    looked up once by (name, type): instead of four `child` lookups and four `observe`
    calls. `add` splits them into the four histograms (a None is not observed: cost for
    an operation that has none).
    """

    __slots__ = ("_values", "append", "cost", "db_time", "duration", "statements")

    def __init__(
        self, duration: Observed, cost: Observed, statements: Observed, db_time: Observed
    ) -> None:
        self.duration = duration
        self.cost = cost
        self.statements = statements
        self.db_time = db_time
        self._values: list[tuple[float, int | None, int | None, float | None]] = []
        self.append = self._values.append

    def add(self) -> None:
        """Add the operations observed since the last call (see `Observed.add`)."""
        values = self._values
        count = len(values)
        if not count:
            return
        taken = values[:count]
        del values[:count]
        seconds, costs, statements, db_seconds = zip(*taken, strict=True)
        self.duration.add_values(list(seconds))
        for observed, column in (
            (self.cost, costs),
            (self.statements, statements),
            (self.db_time, db_seconds),
        ):
            # A scan in C first: filtering in Python took most of a sync's time when
            # (as in every HTTP request) no value is missing.
            present = list(column) if None not in column else [v for v in column if v is not None]
            if present:
                observed.add_values(present)


class _SyncFirst(Collector):
    """Registered first: copies the synced values in before the registry collects."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self._sync = sync

    def describe(self) -> list[Metric]:
        """No metrics of its own."""
        return []

    def collect(self) -> list[Metric]:
        """Sync, and add nothing."""
        self._sync()
        return []


class Metrics:
    """Every metric of one app (one registry), and the sources of the synced ones."""

    def __init__(self, settings: Settings, registry: CollectorRegistry | None = None) -> None:
        self.multiprocess = multiprocess()
        r = self.registry = registry or CollectorRegistry()
        if not self.multiprocess:
            r.register(_SyncFirst(self.sync))
            for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
                r.register(collector)
        # Trusted documents only: every name is a registered document's (bounded by them).
        self.names = OperationNames(
            10**9 if settings.trusted_documents else settings.metrics_operation_names
        )
        self.pool_max_value = settings.pool_size + settings.max_overflow
        # -- observed
        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests (OpenTelemetry http.server.request.duration).",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.operation_duration = Histogram(
            "wren_graphql_operation_duration_seconds",
            "Duration of GraphQL operations, from the document to the result.",
            ["operation_name", "operation_type"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.operation_cost = Histogram(
            "wren_graphql_operation_cost",
            "Estimated cost of the GraphQL operations that ran.",
            ["operation_type"],
            buckets=COST_BUCKETS,
            registry=r,
        )
        self.operation_statements = Histogram(
            "wren_graphql_operation_sql_statements",
            "SQL statements one GraphQL operation sent.",
            ["operation_name", "operation_type"],
            buckets=STATEMENT_BUCKETS,
            registry=r,
        )
        self.operation_db_time = Histogram(
            "wren_graphql_operation_db_duration_seconds",
            "Time one GraphQL operation spent in SQL statements (pool waits included).",
            ["operation_name", "operation_type"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "wren_graphql_errors",
            "GraphQL errors in responses, by extensions.code.",
            ["code"],
            registry=r,
        )
        self.refused = Counter(
            "wren_requests_refused",
            "Requests or operations refused by a limit, by the limit's code.",
            ["limit"],
            registry=r,
        )
        self.deadlines = Counter(
            "wren_deadlines_exceeded",
            "Operations cancelled at WREN_EXECUTION_TIMEOUT.",
            registry=r,
        )
        self.batch_size = Histogram(
            "wren_loader_batch_size",
            "Keys per loader batch (each batch is one SQL statement).",
            ["loader"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.pool_wait_histogram = Histogram(
            "db_client_connection_wait_time_seconds",
            "Time to obtain a pooled connection (OpenTelemetry db.client.connection.wait_time).",
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.pool_timeouts = Counter(
            "db_client_connection_timeouts",
            "Checkouts that gave up after WREN_POOL_TIMEOUT "
            "(OpenTelemetry db.client.connection.timeouts).",
            registry=r,
        )
        self.redis_duration = Histogram(
            "wren_redis_call_duration_seconds",
            "Duration of the cache's Redis calls (one round trip each), by call.",
            ["call"],
            buckets=REDIS_BUCKETS,
            registry=r,
        )
        # -- synced
        live = {"multiprocess_mode": "livesum"}
        self.pool_count = Gauge(
            "db_client_connection_count",
            "Pooled connections by state (OpenTelemetry db.client.connection.count).",
            ["state"],
            registry=r,
            **live,  # type: ignore[arg-type]
        )
        self.pool_max = Gauge(
            "db_client_connection_max",
            "Connections the pools may open (OpenTelemetry db.client.connection.max).",
            registry=r,
            **live,  # type: ignore[arg-type]
        )
        self.pool_pending = Gauge(
            "db_client_connection_pending_requests",
            "Reads waiting for a pooled connection "
            "(OpenTelemetry db.client.connection.pending_requests).",
            registry=r,
            **live,  # type: ignore[arg-type]
        )
        self.breaker_open = Gauge(
            "wren_cache_breaker_open",
            "1 while the cache's circuit breaker skips Redis, else 0 (max over workers).",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.subscriptions = Gauge(
            "wren_subscriptions_active",
            "Subscriptions running.",
            registry=r,
            **live,  # type: ignore[arg-type]
        )
        self.cache_requests = Counter(
            "wren_cache_requests",
            "Cached entries asked for, by field and result (error: one failed or skipped "
            "Redis call).",
            ["field", "result"],
            registry=r,
        )
        self.responses = Counter(
            "wren_response_cache_requests",
            "Cacheable queries looked up in the response cache, by result (shared: answered "
            "by a concurrent request's execution; error: Redis skipped).",
            ["result"],
            registry=r,
        )
        self.documents = Counter(
            "wren_document_cache_requests",
            "Documents looked up in the parsed-document cache, by result (hit, miss).",
            ["result"],
            registry=r,
        )
        self.fallbacks = Counter(
            "wren_fast_path_fallbacks",
            "Documents the compiled fast path refused (they run on graphql-core).",
            registry=r,
        )
        self.events = Counter(
            "wren_events",
            "Subscription events: published (by this process), delivered (to a "
            "subscriber), dropped (a lagging subscriber's).",
            ["outcome"],
            registry=r,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        # The hot path's lookups (see `operation`, `request`, `batch_sizes`).
        self.operations: dict[tuple[str | None, str], OperationSeries] = {}
        self.requests: dict[tuple[str, int], Callable[[float], None]] = {}
        self.unsynced = 0  # requests since the observations were last added
        self.batches: dict[str, Observed] = {}
        self._sources: list[Callable[[], None]] = []
        self._last: dict[object, int] = {}
        self._lock = threading.Lock()
        self._observed: list[Observed | OperationSeries] = []
        self._adding = threading.Lock()  # a scrape's thread, and the lifespan's end
        self.add_source(self.add_observed)
        self.pool_wait = self._observe(self.pool_wait_histogram)
        if self.multiprocess:
            # Collectors do not work across processes: each worker's process figures go
            # into gauges of the same names, one series per worker (a `pid` label).
            self._process = {
                name: Gauge(name, doc, registry=r, multiprocess_mode="liveall")
                for name, doc in PROCESS_GAUGES.items()
            }
            self.add_source(self._copy_process)

    def _copy_process(self) -> None:
        for family in PROCESS_COLLECTOR.collect():
            for sample in family.samples:
                gauge = self._process.get(sample.name)
                if gauge is not None:
                    gauge.set(sample.value)

    def child(self, metric: Any, *labels: str) -> Any:
        """A labelled child, from a dict of our own (`.labels()` validates and locks); a
        histogram's as its `Observed`."""
        key = (metric, *labels)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*labels)
            if isinstance(found, Histogram):
                found = self._observe(found)
            self._children[key] = found
        return found

    def operation(self, name: str | None, kind: str, validated: bool) -> OperationSeries:
        """The series of an operation (its name bounded as `OperationNames` says)."""
        found = self.operations.get((name, kind)) if validated and name is not None else None
        if found is None:
            label = self.names.label(name) if validated else self.names.known(name)
            found = self.operations.get((label, kind))
            if found is None:
                found = OperationSeries(
                    self.child(self.operation_duration, label, kind),
                    self.child(self.operation_cost, kind),
                    self.child(self.operation_statements, label, kind),
                    self.child(self.operation_db_time, label, kind),
                )
                self.operations[label, kind] = found
                # Added first: its children's own values (none) come after.
                self._observed.insert(0, found)
        return found

    def request(self, method: str, status: int) -> Callable[[float], None]:
        """What a request of this method and status appends its duration to
        (http_server_request_duration_seconds' child's `Observed.append`)."""
        found = self.requests.get((method, status))
        if found is None:
            child: Observed = self.child(self.http_duration, method, "/graphql", str(status))
            found = self.requests[method, status] = child.append
        return found

    def batch_sizes(self, loader: str) -> Observed:
        """wren_loader_batch_size's child of a loader."""
        found = self.batches.get(loader)
        if found is None:
            found = self.batches[loader] = self.child(self.batch_size, loader)
        return found

    def _observe(self, histogram: Histogram) -> Observed:
        observed = Observed(histogram)
        self._observed.append(observed)
        return observed

    def add_observed(self) -> None:
        """Add every histogram's observations since the last sync (see `Observed`)."""
        self.unsynced = 0
        with self._adding:
            for observed in self._observed:
                observed.add()

    # -- synced values

    def add_source(self, source: Callable[[], None]) -> None:
        """Something to copy in before each collection (see `counter` and `gauge`)."""
        self._sources.append(source)

    def counter(self, metric: Any, value: int) -> None:
        """Bring a synced counter to a process total (called from a source)."""
        last = self._last.get(metric, 0)
        if value > last:
            metric.inc(value - last)
            self._last[metric] = value

    def sync(self) -> None:
        """Copy every source in (at scrape time, or every second with several workers)."""
        with self._lock:
            for source in self._sources:
                source()


# The `field` label of wren_cache_requests_total: the GraphQL field a kind of entry serves.
CACHE_FIELDS = {"stats": "stats", "recs": "recommendedUsers"}


def watch(
    metrics: Metrics,
    *,
    db: Database,
    store: CacheStore,
    events: Events,
    pipeline: Pipeline,
    responses: ResponseCache | None = None,
) -> None:
    """Sync the pool, the cache, events, documents and subscriptions into `metrics`."""
    child = metrics.child
    idle = child(metrics.pool_count, "idle")
    used = child(metrics.pool_count, "used")

    def source() -> None:
        idle_count, used_count = db.pool_counts()
        idle.set(idle_count)
        used.set(used_count)
        metrics.pool_max.set(metrics.pool_max_value)
        metrics.pool_pending.set(db.pending)
        metrics.breaker_open.set(1 if store.breaker.is_open else 0)
        metrics.subscriptions.set(pipeline.subscriptions)
        for kind, counts in store.by_kind.items():
            field = CACHE_FIELDS.get(str(kind), str(kind))
            for result, value in zip(
                CACHE_RESULTS,
                (counts.hits, counts.misses, counts.shared, counts.errors),
                strict=True,
            ):
                metrics.counter(child(metrics.cache_requests, field, result), value)
        if responses is not None:
            counts = responses.counts
            for result, value in zip(
                CACHE_RESULTS,
                (counts.hits, counts.misses, counts.shared, counts.errors),
                strict=True,
            ):
                metrics.counter(child(metrics.responses, result), value)
        metrics.counter(child(metrics.documents, "hit"), pipeline.documents.hits)
        metrics.counter(child(metrics.documents, "miss"), pipeline.documents.misses)
        metrics.counter(metrics.fallbacks, pipeline.executor.fallbacks)
        metrics.counter(child(metrics.events, "published"), events.published)
        metrics.counter(child(metrics.events, "delivered"), events.hub.delivered)
        metrics.counter(child(metrics.events, "dropped"), events.hub.dropped)

    metrics.add_source(source)
