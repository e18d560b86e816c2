"""GraphiQL in a real headless browser, with every request to another origin blocked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.world import USERS
from tests.sessions import session_token
from wren.http.graphiql import CONTENT_SECURITY_POLICY, SCRIPTS, STYLES
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")


def _chromium() -> str:
    """Debian's chromium (.ci/packages): never a browser build downloaded by a tool."""
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is needed (apt-get install chromium; see .ci/packages)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _browse(node: Path, url: str, tmp_path: Path, steps: list[dict[str, str]]) -> dict[str, Any]:
    config = {
        "url": url,
        "chromium": _chromium(),
        "userDataDir": str(tmp_path / "profile"),
        "steps": steps,
    }
    done = subprocess.run(
        ["node", "graphiql.mjs", json.dumps(config)],
        cwd=node, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.stdout, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def test_graphiql_runs_typed_queries_with_no_other_origin(
    node: Path, live_url: str, settings: Settings, tmp_path: Path
) -> None:
    steps = [
        {"query": '{ userByHandle(handle: "alice") { handle displayName } }'},
        {
            "headers": f'{{"Authorization": "Bearer {session_token(settings, USERS["alice"])}"}}',
            "query": "{ viewer { handle } }",
        },
    ]
    report = _browse(node, live_url, tmp_path, steps)

    # Nothing outside Wren was asked for, and nothing was refused or went wrong.
    assert report["foreign"] == []
    origin = live_url.removesuffix("/graphql")
    assert [r["url"] for r in report["requests"] if not r["url"].startswith(origin)] == []
    # The page, its files, and GraphQL requests to /graphql (introspection, the queries).
    loaded = {r["url"].rsplit("/", 1)[-1] for r in report["requests"] if "/static/" in r["url"]}
    assert loaded == {*SCRIPTS, *STYLES}
    assert {(r["method"], r["url"]) for r in report["requests"] if "/static/" not in r["url"]} == {
        ("GET", live_url),
        ("POST", live_url),
    }
    assert report["failed"] == []
    assert report["pageErrors"] == []
    # The console stays silent: no error, no warning, no refusal of the page's policy.
    assert report["console"] == []
    assert report.get("error") is None, report["error"]
    assert report["csp"] == CONTENT_SECURITY_POLICY
    first, second = report["answers"]
    assert first["query"] == steps[0]["query"]
    assert first["result"]["data"] == {"userByHandle": {"handle": "alice", "displayName": "Alice"}}
    assert second["headers"] == steps[1]["headers"]
    assert second["result"]["data"] == {"viewer": {"handle": "alice"}}
    # The explorer plugin lists the root fields of the served schema.
    assert "userByHandle" in report["explorer"]
    assert "Persist headers" in report["dialog"]
