"""Log lines: one access line per request, the slow-operation line, JSON formatting."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import free_port, operation, timeline_statements
from tests.http.conftest import serving
from wren.observability.logs import JsonFormatter, TextFormatter, logging_config
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


async def test_one_access_line_per_request(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wren.access")
    async with serving(settings, access_log=True) as (_, http):
        response = await http.post(
            "/graphql",
            json={"query": operation("Timeline"), "variables": {"first": 5}},
            headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
        await http.post("/graphql", json={"query": "{ nope }"})
    first, second = records(caplog, "wren.access")
    fields = first.fields  # type: ignore[attr-defined]
    assert fields["request_id"] == response.headers["x-request-id"]
    # Wren does not trace here: the caller's trace id is logged all the same.
    assert fields["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert fields["operation_name"] == "Timeline"
    assert fields["operation_type"] == "query"
    assert fields["status"] == 200
    assert fields["sql_statements"] == timeline_statements(settings)
    assert fields["cost"] == response.json()["extensions"]["cost"]["estimated"]
    assert fields["error_codes"] == []
    assert fields["duration_ms"] > 0
    assert second.fields["error_codes"] == ["GRAPHQL_VALIDATION_FAILED"]  # type: ignore[attr-defined]
    assert second.fields["operation_name"] is None  # type: ignore[attr-defined]

    line = json.loads(JsonFormatter().format(first))
    assert line["logger"] == "wren.access"
    assert line["level"] == "info"
    assert line["operation_name"] == "Timeline"
    assert line["sql_statements"] == timeline_statements(settings)
    text = TextFormatter("%(levelname)s %(name)s: %(message)s").format(first)
    assert text.startswith("INFO wren.access: request request_id=")
    assert "operation_name=Timeline" in text


async def test_no_access_line_by_default(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wren.access")
    async with serving(settings) as (_, http):
        await http.post("/graphql", json={"query": "{ __typename }"})
    assert records(caplog, "wren.access") == []


async def test_slow_operations_are_logged(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wren.slow")
    # Nothing else observed: the line comes from the pipeline's one timing per operation.
    async with serving(settings, slow_operation_ms=0.001) as (app, http):
        assert not app.state.telemetry.observing
        await http.post(
            "/graphql", json={"query": operation("Timeline"), "variables": {"first": 5}}
        )
    [line] = records(caplog, "wren.slow")
    assert line.fields["operation_name"] == "Timeline"  # type: ignore[attr-defined]
    assert line.fields["duration_ms"] > 0  # type: ignore[attr-defined]


async def test_a_slow_line_with_metrics_has_the_statements(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wren.slow")
    # Metrics alone: no Record is current; the figures are the operation's own.
    async with serving(settings, slow_operation_ms=0.001, metrics_port=free_port()) as (_, http):
        await http.post(
            "/graphql", json={"query": operation("Timeline"), "variables": {"first": 5}}
        )
    [line] = records(caplog, "wren.slow")
    assert line.fields["operation_name"] == "Timeline"  # type: ignore[attr-defined]
    assert line.fields["sql_statements"] == timeline_statements(settings)  # type: ignore[attr-defined]
    assert line.fields["trace_id"] is None  # type: ignore[attr-defined]


async def test_fast_operations_are_not(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="wren.slow")
    async with serving(settings, slow_operation_ms=60_000) as (_, http):
        await http.post("/graphql", json={"query": "{ __typename }"})
    assert records(caplog, "wren.slow") == []


def test_json_lines_from_every_logger(settings: Settings) -> None:
    config = logging_config(
        Settings(_env_file=None, **{**settings.model_dump(), "log_format": "json"})  # type: ignore[call-arg]
    )
    assert config["root"]["handlers"] == ["wren"]
    for name in ("default", "access", "wren"):
        assert config["formatters"][name]["()"].endswith("JsonFormatter")
    text = logging_config(settings)
    assert text["formatters"]["wren"]["()"].endswith("TextFormatter")
    # uvicorn's own lines keep uvicorn's text format.
    assert "()" in text["formatters"]["default"]
    assert text["formatters"]["default"]["()"] == "uvicorn.logging.DefaultFormatter"


async def test_the_access_line_counts_cache_hits(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="wren.access")
    async with serving(settings, access_log=True) as (app, http):
        assert await app.state.resources.cache.bump_epoch()
        body = {"query": operation("Leaderboard"), "variables": {"first": 4}}
        await http.post("/graphql", json=body)
        await http.post("/graphql", json=body)
    first, second = records(caplog, "wren.access")
    # Four users' stats and recommendations: missed first, then found in Redis.
    assert first.fields["cache_hits"] == 0  # type: ignore[attr-defined]
    assert second.fields["cache_hits"] == 8  # type: ignore[attr-defined]
