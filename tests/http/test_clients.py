"""Real clients from npm against a live server: the graphql-http audit and Apollo Client."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from tests.conftest import CONTRACT
from tests.http.conftest import live_server
from tests.integration.world import uid
from wren.pipeline.trusted import read_documents, register
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")


def run_node(node: Path, *args: str) -> tuple[int, Any]:
    done = subprocess.run(
        ["node", *args], cwd=node, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_graphql_http_audit_has_no_warning_or_error(node: Path, live_url: str) -> None:
    code, summary = run_node(node, "audit.mjs", live_url)
    assert summary["notOk"] == []
    assert (summary["ok"], summary["warn"], summary["error"]) == (61, 0, 0)
    assert code == 0


@pytest.mark.parametrize("method", ["post", "get"])
def test_apollo_client_with_persisted_queries(node: Path, live_url: str, method: str) -> None:
    name = f"ApolloApq{method.title()}{uuid.uuid4().hex[:8]}"
    code, report = run_node(node, "apollo-apq.cjs", live_url, "alice", method, name)
    assert code == 0
    alice = {"__typename": "User", "id": uid("alice"), "handle": "alice", "displayName": "Alice"}
    assert [r["data"] for r in report["results"]] == [{"userByHandle": alice}] * 3
    exchanges = report["exchanges"]
    # The first query is unknown: Apollo Client retries with its text, which is then
    # stored; the second query, and a fresh client's, send the hash alone and hit.
    sent_text = ["query" in (e["request"] or {}) or "query=" in e["url"] for e in exchanges]
    assert sent_text == [False, True, False, False]
    codes = [
        [err["extensions"]["code"] for err in e["response"].get("errors", [])] for e in exchanges
    ]
    assert codes == [["PERSISTED_QUERY_NOT_FOUND"], [], [], []]
    hashed = "GET" if method == "get" else "POST"
    assert [e["method"] for e in exchanges] == [hashed, "POST", hashed, hashed]


def test_apollo_client_with_trusted_documents(node: Path, settings: Settings) -> None:
    async def persist() -> None:
        redis = Redis.from_url(settings.redis_url or "")
        try:
            await register(settings, redis, read_documents(CONTRACT / "operations"))
        finally:
            await redis.aclose()

    asyncio.run(persist())
    with live_server(settings, WREN_TRUSTED_DOCUMENTS="true") as url:
        # The contract's UserByHandle, as Apollo Client sends it (with __typename added).
        code, report = run_node(node, "apollo-apq.cjs", url, "alice", "post", "UserByHandle")
        assert code == 0
        assert [e["request"].get("query") for e in report["exchanges"]] == [None] * 3
        assert report["results"][0]["data"]["userByHandle"]["handle"] == "alice"
        # Anything else is refused, even when Apollo Client retries with the text.
        done = subprocess.run(
            ["node", "apollo-apq.cjs", url, "alice", "post", "NotRegistered"],
            cwd=node, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 1
        assert "PersistedQueryNotFound" in done.stderr
