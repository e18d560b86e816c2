"""Metrics: what a request, an operation, a statement and a cached field record, read back
from the app's own registry (the live scrape by a real Prometheus: test_prometheus.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from tests.conftest import CONTRACT, free_port, gql, operation, timeline_statements
from tests.http.conftest import serving
from wren.app import Resources
from wren.pipeline.trusted import read_documents, register
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

TIMELINE = {"operation_name": "Timeline", "operation_type": "query"}
POST_200 = {
    "http_request_method": "POST",
    "http_route": "/graphql",
    "http_response_status_code": "200",
}


def registry_of(app: Any) -> CollectorRegistry:
    registry: CollectorRegistry = app.state.telemetry.metrics.registry
    return registry


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value; 0 when the series does not exist (yet)."""
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_nothing_is_observed_without_settings(settings: Settings) -> None:
    async with serving(settings) as (app, http):
        assert app.state.telemetry.metrics is None
        assert not app.state.telemetry.observing
        assert app.state.resources.db.telemetry is None
        assert app.state.resources.cache.telemetry is None
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert "traceresponse" not in response.headers


async def test_timeline_is_measured_once_per_request_operation_and_statement(
    settings: Settings,
) -> None:
    async with serving(settings, metrics_port=free_port()) as (app, http):
        registry = registry_of(app)
        statements: list[str] = []
        with app.state.resources.db.watching(lambda sql, _: statements.append(sql)):
            body = await gql(http, operation("Timeline"), {"first": 5})
        assert "errors" not in body
        # The same count as test_statements_per_operation asserts.
        assert len(statements) == timeline_statements(settings)
        assert value(registry, "http_server_request_duration_seconds_count", **POST_200) == 1
        assert value(registry, "wren_graphql_operation_duration_seconds_count", **TIMELINE) == 1
        assert value(
            registry, "wren_graphql_operation_sql_statements_sum", **TIMELINE
        ) == timeline_statements(settings)
        assert value(registry, "wren_graphql_operation_db_duration_seconds_count", **TIMELINE) == 1
        assert value(registry, "wren_graphql_operation_db_duration_seconds_sum", **TIMELINE) > 0
        assert value(registry, "wren_graphql_operation_cost_count", operation_type="query") == 1
        # One checkout per statement.
        assert value(registry, "db_client_connection_wait_time_seconds_count") == len(statements)
        # A loader batch of the five posts per statement but the first page's (the fast path
        # renders all of it in the page's statement: no loader).
        loaders = (
            []
            if settings.compiled_queries
            else ["like_count_by_post", "comments_by_post", "comment_count_by_post"]
        )
        assert len(loaders) == len(statements) - 1
        for loader in loaders:
            assert value(registry, "wren_loader_batch_size_sum", loader=loader) == 5
        # Synced at scrape time: the pool, the document cache, the process.
        assert value(registry, "db_client_connection_max") == 4
        assert value(registry, "db_client_connection_count", state="idle") >= 1
        assert value(registry, "db_client_connection_count", state="used") == 0
        assert value(registry, "db_client_connection_pending_requests") == 0
        assert value(registry, "wren_document_cache_requests_total", result="miss") == 1
        assert value(registry, "wren_cache_breaker_open") == 0
        assert value(registry, "process_cpu_seconds_total") > 0

        await gql(http, operation("Timeline"), {"first": 5})
        assert value(registry, "wren_graphql_operation_duration_seconds_count", **TIMELINE) == 2
        assert value(registry, "wren_graphql_operation_sql_statements_sum", **TIMELINE) == 2 * len(
            statements
        )
        assert value(registry, "wren_document_cache_requests_total", result="hit") == 1


async def test_response_cache_hits_and_misses_are_counted(settings: Settings) -> None:
    async with serving(settings, metrics_port=free_port(), response_cache=True) as (app, http):
        registry = registry_of(app)
        assert await app.state.resources.cache.bump_epoch()  # nothing stored by another test
        for _ in range(3):
            body = await gql(http, operation("Timeline"), {"first": 5})
            assert "errors" not in body
        assert value(registry, "wren_response_cache_requests_total", result="miss") == 1
        assert value(registry, "wren_response_cache_requests_total", result="hit") == 2
        assert value(registry, "wren_response_cache_requests_total", result="error") == 0
        call = {"call": "response_lookup"}
        assert value(registry, "wren_redis_call_duration_seconds_count", **call) == 3
        # Stored answers still count as operations (with no SQL).
        assert value(registry, "wren_graphql_operation_duration_seconds_count", **TIMELINE) == 3
        assert value(
            registry, "wren_graphql_operation_sql_statements_sum", **TIMELINE
        ) == timeline_statements(settings)


async def test_errors_are_counted_by_code_and_limits_by_limit(settings: Settings) -> None:
    async with serving(settings, metrics_port=free_port(), max_depth=2) as (app, http):
        registry = registry_of(app)
        deep = "{ posts(first: 1) { nodes { author { handle } } } }"
        response = await http.post("/graphql", json={"query": deep})
        assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
        response = await http.post(
            "/graphql",
            content=b"{" + b" " * 70000 + b"}",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413
        response = await http.get("/graphql", params={"query": "mutation { logOut }"})
        assert response.status_code == 405
        await http.post("/graphql", json={"query": '{ userByHandle(handle: "nobody") { id } }'})

        assert value(registry, "wren_graphql_errors_total", code="QUERY_TOO_DEEP") == 1
        assert value(registry, "wren_requests_refused_total", limit="QUERY_TOO_DEEP") == 1
        assert value(registry, "wren_graphql_errors_total", code="PAYLOAD_TOO_LARGE") == 1
        assert value(registry, "wren_requests_refused_total", limit="PAYLOAD_TOO_LARGE") == 1
        assert value(registry, "wren_graphql_errors_total", code="METHOD_NOT_ALLOWED") == 1
        assert (
            value(
                registry,
                "http_server_request_duration_seconds_count",
                http_request_method="GET",
                http_route="/graphql",
                http_response_status_code="405",
            )
            == 1
        )
        # Refused documents are no operations that ran; the anonymous lookup is `other`.
        operations = "wren_graphql_operation_duration_seconds_count"
        assert value(registry, operations, operation_name="other", operation_type="query") == 1


async def test_operation_names_are_bounded(settings: Settings) -> None:
    async with serving(settings, metrics_port=free_port(), metrics_operation_names=2) as (
        app,
        http,
    ):
        registry = registry_of(app)
        # An invalid document's name is never admitted.
        await http.post("/graphql", json={"query": "query Invalid { nope }"})
        for name in ("First", "Second", "Third", "Fourth", "First"):
            await gql(http, f"query {name} {{ __typename }}")
        await gql(http, "{ __typename }")

        def count(name: str) -> float:
            return value(
                registry,
                "wren_graphql_operation_duration_seconds_count",
                operation_name=name,
                operation_type="query",
            )

        assert count("First") == 2
        assert count("Second") == 1
        assert count("Third") == count("Fourth") == 0
        assert count("Invalid") == 0
        assert count("other") == 3  # Third, Fourth and the anonymous one


async def test_cached_fields_are_counted_by_field_and_result(settings: Settings) -> None:
    async with serving(settings, metrics_port=free_port()) as (app, http):
        registry = registry_of(app)
        assert await app.state.resources.cache.bump_epoch()
        await gql(http, operation("Leaderboard"), {"first": 4})
        misses = value(registry, "wren_cache_requests_total", field="stats", result="miss")
        assert misses == 4
        await gql(http, operation("Leaderboard"), {"first": 4})
        assert value(registry, "wren_cache_requests_total", field="stats", result="hit") == 4
        assert (
            value(registry, "wren_cache_requests_total", field="recommendedUsers", result="hit")
            == 4
        )
        assert value(registry, "wren_redis_call_duration_seconds_count", call="read") >= 2


async def test_the_metrics_port_is_not_the_api(settings: Settings) -> None:
    async with serving(settings, metrics_port=free_port()) as (_, http):
        response: httpx.Response = await http.get("/metrics")
        assert response.status_code == 404


async def test_subscriptions_and_events_are_counted(settings: Settings) -> None:
    from tests.http.test_subscriptions import (
        POST_CREATED,
        channels,
        listening,
        post,
        subscriber,
        uvicorn_serving,
    )

    async with serving(settings, metrics_port=free_port()) as (app, http):
        registry = registry_of(app)
        async with uvicorn_serving(app) as url, subscriber(url) as sub:
            await sub.init()
            await sub.subscribe(POST_CREATED, {})
            await listening(settings, channels(settings).post_created)
            assert value(registry, "wren_subscriptions_active") == 1
            await post(http, settings, "alice", "Counted")
            message = await sub.receive()
            assert message["type"] == "next"
            # A query over WebSocket is refused, and counted like any refusal.
            await sub.subscribe("{ __typename }")
            refused = await sub.receive()
            assert refused["type"] == "error"
        assert value(registry, "wren_events_total", outcome="published") == 1
        assert value(registry, "wren_events_total", outcome="delivered") == 1
        assert value(registry, "wren_events_total", outcome="dropped") == 0
        assert value(registry, "wren_graphql_errors_total", code="BAD_REQUEST") == 1
        for _ in range(100):
            if value(registry, "wren_subscriptions_active") == 0:
                break
            await asyncio.sleep(0.02)
        assert value(registry, "wren_subscriptions_active") == 0


@pytest.mark.parametrize("access_log", [False, True])
async def test_statements_are_counted_per_operation_of_a_batch(
    settings: Settings, access_log: bool
) -> None:
    """Each operation of a batched request observes its own statements (counted on its
    reads), with metrics alone and beside the access line (whose figures are the
    request's): every statement sent is counted once, by the operation that sent it."""
    async with serving(
        settings, metrics_port=free_port(), max_batch_size=2, access_log=access_log
    ) as (app, http):
        registry = registry_of(app)
        one = {"query": operation("Timeline"), "variables": {"first": 5}}
        sent: list[str] = []
        with app.state.resources.db.watching(lambda sql, _: sent.append(sql)):
            response = await http.post("/graphql", json=[one, one])
        assert response.status_code == 200
        assert all("errors" not in part for part in response.json())
        assert value(registry, "wren_graphql_operation_duration_seconds_count", **TIMELINE) == 2
        counted = value(registry, "wren_graphql_operation_sql_statements_sum", **TIMELINE)
        assert counted == len(sent)
        if settings.compiled_queries:
            # The fast path sends each operation's own statement; on graphql-core the two
            # operations share the request's loaders, and the second finds the first's
            # rows in them (fewer statements than two operations apart).
            assert counted == 2 * timeline_statements(settings)
        assert value(registry, "http_server_request_duration_seconds_count", **POST_200) == 1


@pytest.mark.parametrize("access_log", [False, True])
async def test_errors_of_an_operation_that_ran_are_counted_once(
    settings: Settings, access_log: bool
) -> None:
    """Counted by the operation's seam with metrics alone (no Record is current), by the
    request's end beside the access line: once either way."""
    async with serving(settings, metrics_port=free_port(), access_log=access_log) as (app, http):
        registry = registry_of(app)
        query = '{ userByHandle(handle: "a\\u0000b") { id } }'
        response = await http.post("/graphql", json={"query": query})
        [error] = response.json()["errors"]
        code = error["extensions"]["code"]
        assert error["path"] == ["userByHandle"]
        assert value(registry, "wren_graphql_errors_total", code=code) == 1
        assert (
            value(
                registry,
                "wren_graphql_operation_duration_seconds_count",
                operation_name="other",
                operation_type="query",
            )
            == 1
        )


async def test_trusted_documents_keep_every_name(settings: Settings, resources: Resources) -> None:
    """With trusted documents only, the registered ones bound the names: past the limit of
    WREN_METRICS_OPERATION_NAMES every registered name is still its own label."""
    await register(settings, resources.redis, read_documents(CONTRACT / "operations"))
    async with serving(
        settings, metrics_port=free_port(), metrics_operation_names=1, trusted_documents=True
    ) as (app, http):
        registry = registry_of(app)
        await gql(http, operation("UserByHandle"), {"handle": "nobody"})
        await gql(http, operation("Timeline"), {"first": 2})
        for name in ("UserByHandle", "Timeline"):
            series = {"operation_name": name, "operation_type": "query"}
            assert value(registry, "wren_graphql_operation_duration_seconds_count", **series) == 1
        assert (
            value(
                registry,
                "wren_graphql_operation_duration_seconds_count",
                operation_name="other",
                operation_type="query",
            )
            == 0
        )


async def test_every_limit_counts_its_refusals(settings: Settings) -> None:
    """Each limit of src/wren/pipeline/limits.py is a `limit` of wren_requests_refused_total."""
    overrides = {"max_fields": 2, "max_aliases": 1, "max_directives": 1, "max_tokens": 30}
    documents = {
        "TOO_MANY_FIELDS": "{ a: __typename b: __typename c: __typename }",
        "TOO_MANY_ALIASES": "{ a: __typename b: __typename }",
        "TOO_MANY_DIRECTIVES": "{ __typename @skip(if: false) @include(if: true) }",
        "TOO_MANY_TOKENS": "{ " + "__typename " * 40 + "}",
    }
    for code, document in documents.items():
        async with serving(settings, metrics_port=free_port(), **overrides) as (app, http):
            response = await http.post("/graphql", json={"query": document})
            assert response.json()["errors"][0]["extensions"]["code"] == code
            assert value(registry_of(app), "wren_requests_refused_total", limit=code) == 1
            assert value(registry_of(app), "wren_graphql_errors_total", code=code) == 1
