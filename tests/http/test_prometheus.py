"""A real Prometheus (Debian's `prometheus`) scrapes a live `wren serve --workers 2` and
answers through its own HTTP query API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port, operation, require, timeline_statements
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

POOL_SIZE = 3
REQUESTS = 12


def _wait(check: Callable[[], Any], what: str, seconds: float = 60) -> Any:
    """check()'s first truthy result within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@contextmanager
def process(command: list[str], log: Path, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    # Appending, unbuffered: the workers' lines land whole, one after another.
    with log.open("ab") as out:
        started = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
        try:
            yield started
        finally:
            started.terminate()
            try:
                started.wait(20)
            except subprocess.TimeoutExpired:
                started.kill()
                started.wait(5)


def test_prometheus_scrapes_every_worker(settings: Settings, tmp_path: Path) -> None:
    # A skip here, a failure in CI (.ci/packages lists prometheus).
    prometheus = require("prometheus")
    api, metrics, web = free_port(), free_port(), free_port()
    wren = Path(sys.executable).with_name("wren")
    server_log = tmp_path / "wren.log"
    environment = {
        "WREN_DATABASE_URL": settings.database_url or "",
        "WREN_REDIS_URL": settings.redis_url or "",
        "WREN_CACHE_NAMESPACE": settings.cache_namespace,
        "WREN_PORT": str(api),
        "WREN_COMPILED_QUERIES": str(settings.compiled_queries).lower(),
        "WREN_POOL_SIZE": str(POOL_SIZE),
        "WREN_METRICS_PORT": str(metrics),
        "WREN_LOG_FORMAT": "json",
        "WREN_ACCESS_LOG": "true",
        "PYTHONUNBUFFERED": "1",
    }
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: wren\n    static_configs: [{{targets: ['127.0.0.1:{metrics}']}}]\n"
    )
    with process([str(wren), "serve", "--workers", "2"], server_log, **environment):
        base = f"http://127.0.0.1:{api}"
        _wait(lambda: httpx.get(f"{base}/healthz").status_code == 200, "wren serve")
        body = {"query": operation("Timeline"), "variables": {"first": 5}}
        for _ in range(REQUESTS):
            response = httpx.post(f"{base}/graphql", json=body)
            assert response.status_code == 200
            assert "errors" not in response.json()
        # The API's port has no metrics; the metrics port has.
        assert httpx.get(f"{base}/metrics").status_code == 404
        assert (
            "wren_graphql_operation_duration_seconds"
            in httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
        )

        command = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ]
        with process(command, tmp_path / "prometheus.log"):
            api_url = f"http://127.0.0.1:{web}/api/v1/query"

            def query(expression: str) -> float | None:
                response = httpx.get(api_url, params={"query": expression})
                if response.status_code == 503:  # still starting ("Service Unavailable")
                    return None
                answer = response.json()
                assert answer["status"] == "success", answer
                results = answer["data"]["result"]
                return float(results[0]["value"][1]) if results else None

            ready = f"http://127.0.0.1:{web}/-/ready"
            _wait(lambda: httpx.get(ready).status_code == 200, "Prometheus ready")
            timeline = (
                'sum(wren_graphql_operation_duration_seconds_count{operation_name="Timeline"})'
            )
            assert _wait(lambda: query(timeline) == REQUESTS, "Timeline's histogram")
            assert (
                query('sum(wren_graphql_operation_sql_statements_sum{operation_name="Timeline"})')
                == timeline_statements(settings) * REQUESTS
            )
            assert query(
                'sum(http_server_request_duration_seconds_count{http_route="/graphql"})'
            ) == (REQUESTS)
            # Both workers' pools in one scrape: the gauges are summed over live workers.
            assert _wait(lambda: query("db_client_connection_max") == 2 * POOL_SIZE, "pool max")
            assert query('db_client_connection_count{state="used"}') == 0
            assert (query('db_client_connection_count{state="idle"}') or 0) >= 1
            assert query("db_client_connection_pending_requests") == 0
            assert query('up{job="wren"}') == 1

    lines = [
        json.loads(line) for line in server_log.read_text().splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line["logger"] == "wren.access"]
    assert len(access) == REQUESTS
    assert {line["operation_name"] for line in access} == {"Timeline"}
    assert {line["sql_statements"] for line in access} == {timeline_statements(settings)}
    # Every line is JSON, uvicorn's own included.
    assert all(line.startswith("{") for line in server_log.read_text().splitlines() if line)
