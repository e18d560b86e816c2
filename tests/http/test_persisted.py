"""Automatic persisted queries and trusted documents."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from tests.conftest import CONTRACT, StatementLog, operation
from tests.http.conftest import serving
from wren.app import Resources
from wren.cache.keys import DocumentKeys
from wren.cli import cli
from wren.pipeline.trusted import read_documents, register
from wren.settings import Settings

QUERY = "query Typename { __typename }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def test_unknown_hash_then_register_then_hit(
    client: httpx.AsyncClient, resources: Resources, settings: Settings
) -> None:
    query = "query Unique1 { users(first: 1) { totalCount } }"
    digest = sha(query)
    miss = await client.post("/graphql", json={"extensions": persisted(digest)})
    assert miss.status_code == 200
    assert miss.json()["errors"][0] == {
        "message": "PersistedQueryNotFound",
        "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
    }
    stored = await client.post("/graphql", json={"query": query, "extensions": persisted(digest)})
    assert stored.json()["data"] == {"users": {"totalCount": 0}}
    ttl = await resources.redis.ttl(DocumentKeys(settings.persisted_key_prefix).apq(digest))
    assert 0 < ttl <= settings.persisted_query_ttl
    hit = await client.post("/graphql", json={"extensions": persisted(digest)})
    assert hit.json()["data"] == {"users": {"totalCount": 0}}
    # Over GET too, as Apollo Client sends hashed queries with useGETForHashedQueries.
    got = await client.get(
        "/graphql",
        params={"extensions": f'{{"persistedQuery": {{"version": 1, "sha256Hash": "{digest}"}}}}'},
    )
    assert got.json()["data"] == {"users": {"totalCount": 0}}


async def test_miss_under_graphql_response_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"extensions": persisted(sha("query Never { __typename }"))},
        headers={"accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_hash_mismatch_is_400(client: httpx.AsyncClient, sql: StatementLog) -> None:
    response = await client.post(
        "/graphql", json={"query": QUERY, "extensions": persisted(sha("something else"))}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    assert len(sql) == 0


@pytest.mark.parametrize("query", ["{", "{ nope }", "{ " + "__typename " * 3000 + "}"])
async def test_invalid_documents_are_not_stored(
    client: httpx.AsyncClient, resources: Resources, settings: Settings, query: str
) -> None:
    digest = sha(query)
    response = await client.post("/graphql", json={"query": query, "extensions": persisted(digest)})
    assert response.json()["errors"]
    assert (
        await resources.redis.exists(DocumentKeys(settings.persisted_key_prefix).apq(digest)) == 0
    )


@pytest.mark.parametrize(
    "extensions",
    [
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "short"}},
        {"persistedQuery": "yes"},
    ],
)
async def test_malformed_persisted_query_is_400(
    client: httpx.AsyncClient, extensions: dict[str, Any]
) -> None:
    response = await client.post("/graphql", json={"query": QUERY, "extensions": extensions})
    assert response.status_code == 400


async def test_trusted_documents_mode(settings: Settings, resources: Resources) -> None:
    report = await register(settings, resources.redis, read_documents(CONTRACT / "operations"))
    assert {path.stem for path in report.registered} >= {"Timeline", "UserByHandle", "Directory"}
    async with serving(settings, trusted_documents=True) as (_, http):
        text = operation("UserByHandle")
        variables = {"handle": "nobody"}
        by_hash = await http.post(
            "/graphql", json={"variables": variables, "extensions": persisted(sha(text))}
        )
        assert by_hash.json()["data"] == {"userByHandle": None}
        by_text = await http.post("/graphql", json={"query": text, "variables": variables})
        assert by_text.json()["data"] == {"userByHandle": None}
        for body in (
            {"query": "{ __typename }"},
            {"query": "{ __typename }", "extensions": persisted(sha("{ __typename }"))},
            {"extensions": persisted(sha("{ __typename }"))},
        ):
            refused = await http.post("/graphql", json=body)
            assert refused.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
            assert "data" not in refused.json()


async def test_persisted_queries_can_be_turned_off(settings: Settings) -> None:
    async with serving(settings, persisted_queries=False) as (_, http):
        response = await http.post(
            "/graphql", json={"query": QUERY, "extensions": persisted(sha(QUERY))}
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_register_refuses_invalid_files(settings: Settings, tmp_path: Any) -> None:
    (tmp_path / "ok.graphql").write_text("query Ok { __typename }\n")
    (tmp_path / "bad.graphql").write_text("query Bad { nope }\n")
    redis = Redis.from_url(settings.redis_url or "")
    try:
        report = await register(settings, redis, read_documents(tmp_path))
    finally:
        await redis.aclose()
    assert [p.name for p in report.registered] == ["ok.graphql"]
    assert [p.name for p in report.refused] == ["bad.graphql"]


def test_wren_persist_command(settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "ops").mkdir()
    (tmp_path / "ops" / "Ok.graphql").write_text("query Ok { __typename }\n")
    env = {
        "WREN_REDIS_URL": settings.redis_url or "",
        "WREN_PERSISTED_PREFIX": settings.persisted_key_prefix,
    }
    done = CliRunner().invoke(cli, ["persist", str(tmp_path / "ops")], env=env)
    assert done.exit_code == 0, done.output
    assert "1 registered, 0 refused" in done.output
    (tmp_path / "ops" / "Bad.graphql").write_text("query Bad { nope }\n")
    done = CliRunner().invoke(cli, ["persist", str(tmp_path / "ops")], env=env)
    assert done.exit_code == 1
    assert "1 registered, 1 refused" in done.output
    done = CliRunner().invoke(cli, ["persist", str(tmp_path / "ops")], env={"WREN_REDIS_URL": ""})
    assert done.exit_code != 0
