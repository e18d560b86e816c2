"""Limits: each abuse is refused with its own code before any SQL runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import StatementLog, operation
from tests.http.conftest import serving
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")


def nested(depth: int) -> str:
    """A users -> followers -> followers ... chain `depth` fields deep."""
    inner = "handle"
    for _ in range((depth - 3) // 2):
        inner = f"followers(first: 1) {{ nodes {{ {inner} }} }}"
    return f"{{ users(first: 1) {{ nodes {{ {inner} }} }} }}"


ABUSE = {
    "QUERY_TOO_DEEP": nested(15),
    "TOO_MANY_ALIASES": "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
    "TOO_MANY_DIRECTIVES": "{ " + "... @include(if: true) { __typename } " * 11 + "}",
    "TOO_MANY_TOKENS": "{ users(first: 1) { nodes { " + "handle " * 2000 + "} } }",
    "QUERY_TOO_COSTLY": """{ users(first: 100) { nodes { posts(first: 100) { nodes {
        comments(first: 100) { nodes { body } } } } } } }""",
}  # fmt: skip


async def post(client: httpx.AsyncClient, body: Any, **headers: str) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(("code", "query"), ABUSE.items(), ids=list(ABUSE))
async def test_abuse_is_refused_before_sql(
    client: httpx.AsyncClient, sql: StatementLog, code: str, query: str
) -> None:
    response = await post(client, {"query": query}, accept="application/graphql-response+json")
    assert response.status_code == 400
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert "data" not in body
    assert len(sql) == 0


async def test_cost_is_reported_when_refused(client: httpx.AsyncClient) -> None:
    body = (await post(client, {"query": ABUSE["QUERY_TOO_COSTLY"]})).json()
    assert body["extensions"]["cost"]["estimated"] > 1_000_000
    assert body["extensions"]["cost"]["limit"] == 10_000


async def test_cost_counts_variables(client: httpx.AsyncClient, sql: StatementLog) -> None:
    query = "query($n: Int!) { users(first: $n) { nodes { posts(first: $n) { nodes { id } } } } }"
    small = (await post(client, {"query": query, "variables": {"n": 2}})).json()
    assert small["extensions"]["cost"]["estimated"] == 1 + 2 + 2 + 4
    assert "errors" not in small
    sql.clear()
    big = (await post(client, {"query": query, "variables": {"n": 100}})).json()
    assert big["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert len(sql) == 0


async def test_limits_just_inside_pass(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: users(first: 1) {{ totalCount }}" for i in range(15)) + " }"
    assert "errors" not in (await post(client, {"query": query})).json()
    assert "errors" not in (await post(client, {"query": nested(11)})).json()


@pytest.mark.parametrize(
    "name", ["Directory", "Feed", "Leaderboard", "Profile", "Timeline", "UserByHandle", "Write"]
)
async def test_contract_operations_pass_the_default_limits(
    client: httpx.AsyncClient, name: str
) -> None:
    variables = {"first": 100, "handle": "alice", "input": {"title": "T", "body": "B"}}
    body = (await post(client, {"query": operation(name), "variables": variables})).json()
    codes = {e["extensions"]["code"] for e in body.get("errors", [])}
    # Feed needs a viewer; nothing here may be refused by a limit.
    assert codes <= {"UNAUTHENTICATED"}, body
    assert body["extensions"]["cost"]["estimated"] <= 10_000


async def test_large_bodies_are_413_before_parsing(
    client: httpx.AsyncClient, sql: StatementLog
) -> None:
    query = "{ users(first: 1) { nodes { id } } }" + " " * 70_000
    response = await post(client, {"query": query})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the body is counted as it arrives.
        yield b'{"query": "{ users(first: 1) { nodes { id } } }'
        for _ in range(100):
            yield b" " * 1024
        yield b'"}'

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert len(sql) == 0


async def test_batching_is_off_by_default(client: httpx.AsyncClient, sql: StatementLog) -> None:
    response = await post(client, [{"query": "{ users(first: 1) { totalCount } }"}] * 2)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BATCHING_DISABLED"
    assert len(sql) == 0


async def test_batching_when_enabled_is_bounded(settings: Settings) -> None:
    async with serving(settings, max_batch_size=2) as (_, http):
        one = {"query": "{ users(first: 1) { nodes { handle } } }"}
        response = await post(http, [one, {"query": "{"}])
        assert response.status_code == 200
        first, second = response.json()
        assert first["data"] == {"users": {"nodes": [{"handle": "alice"}]}}
        assert second["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
        response = await post(http, [one] * 3)
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "BATCH_TOO_LARGE"
