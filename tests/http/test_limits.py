"""Limits: each abuse is refused with its own code before any SQL runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import StatementLog, operation
from tests.http.conftest import fragments_bomb, live_server, serving
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")


def nested(depth: int) -> str:
    """A users -> followers -> followers ... chain `depth` fields deep."""
    inner = "handle"
    for _ in range((depth - 3) // 2):
        inner = f"followers(first: 1) {{ nodes {{ {inner} }} }}"
    return f"{{ users(first: 1) {{ nodes {{ {inner} }} }} }}"


def bomb(levels: int) -> str:
    """2^levels fields once expanded, in a document of about 40 bytes per level."""
    return "{ users(first: 1) { nodes { ...F0 } } }\n" + fragments_bomb(levels)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


ABUSE = {
    "QUERY_TOO_DEEP": nested(15),
    "TOO_MANY_ALIASES": "{ " + " ".join(f"a{i}: __typename" for i in range(16)) + " }",
    "TOO_MANY_DIRECTIVES": "{ " + "... @include(if: true) { __typename } " * 11 + "}",
    "TOO_MANY_TOKENS": "{ users(first: 1) { nodes { " + "handle " * 2000 + "} } }",
    "TOO_MANY_FIELDS": bomb(20),
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


async def test_fields_are_counted_with_fragments_spread(
    client: httpx.AsyncClient, sql: StatementLog
) -> None:
    """Counted exactly, each fragment once: 2^60 fields in a document of 2 KB."""
    response = await post(client, {"query": bomb(60)}, accept="application/graphql-response+json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "TOO_MANY_FIELDS", "fields": None, "limit": 500}
    [error] = (await post(client, {"query": bomb(30)})).json()["errors"]
    # users, nodes, and 2^30 handles.
    assert error["extensions"] == {"code": "TOO_MANY_FIELDS", "fields": 2 + 2**30, "limit": 500}
    assert len(sql) == 0
    # Just inside: 2 + 2^8 + ... a few: answered.
    body = (await post(client, {"query": bomb(8)})).json()
    assert body["data"] == {"users": {"nodes": [{"handle": "alice"}]}}


async def test_wide_documents_are_bounded_by_the_field_limit(
    client: httpx.AsyncClient, sql: StatementLog
) -> None:
    """Many fields of one response name (pairwise compared by validation) are refused by
    count before validation; up to the limit they validate and run."""
    wide = "{ users(first: 1) { nodes { " + "handle " * 600 + "} } }"
    [error] = (await post(client, {"query": wide})).json()["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"
    assert len(sql) == 0
    inside = "{ users(first: 1) { nodes { " + "handle " * 498 + "} } }"
    body = (await post(client, {"query": inside})).json()
    assert body["data"] == {"users": {"nodes": [{"handle": "alice"}]}}


async def test_many_operations_in_one_document(client: httpx.AsyncClient) -> None:
    """Each operation is counted (fragments once for all); the chosen one runs."""
    operations = " ".join(f"query Q{i} {{ ...F }}" for i in range(300))
    document = operations + " fragment F on Query { users(first: 1) { nodes { handle } } }"
    body = (await post(client, {"query": document, "operationName": "Q299"})).json()
    assert body["data"] == {"users": {"nodes": [{"handle": "alice"}]}}
    heavy = operations + " " + bomb(12).replace("{ users", "query Big { users", 1)
    [error] = (await post(client, {"query": heavy, "operationName": "Q1"})).json()["errors"]
    assert error["extensions"]["code"] == "TOO_MANY_FIELDS"


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        # A deeply nested literal: the parser refuses it (graphql-core bounds its recursion).
        ('{ userByHandle(handle: ' + "[" * 300 + '"a"' + "]" * 300 + ") { id } }", None,
         "GRAPHQL_PARSE_FAILED"),
        ("{ users(first: 1) { nodes { " * 150 + "id" + " } }" * 150, None,
         "GRAPHQL_PARSE_FAILED"),
        # A deeply nested variable, and a huge list one: coerced (and refused) in one pass.
        ("query($h: String!) { userByHandle(handle: $h) { id } }",
         {"h": {"a": [[[[{"b": 1}]]]] * 2, "c": _nested(500)}}, "BAD_USER_INPUT"),
        ("query($h: String!) { userByHandle(handle: $h) { id } }", {"h": list(range(9000))},
         "BAD_USER_INPUT"),
        # A list variable has no list argument to go to.
        ("query($l: [Int!]) { users(first: 1) { totalCount } }", {"l": list(range(9000))},
         "GRAPHQL_VALIDATION_FAILED"),
    ],
)  # fmt: skip
async def test_nested_and_huge_input_is_refused_with_a_code(
    client: httpx.AsyncClient,
    sql: StatementLog,
    query: str,
    variables: dict[str, Any] | None,
    code: str,
) -> None:
    response = await post(
        client, {"query": query, "variables": variables}, accept="application/graphql-response+json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["extensions"]["code"] for e in errors} == {code}
    assert len(errors) <= 51
    assert len(sql) == 0


async def test_a_trickling_body_is_cut_off(settings: Settings) -> None:
    """A body that has not arrived within WREN_BODY_TIMEOUT gets 408; the connection's
    other requests are served meanwhile."""

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"query": "{ users(first: 1) { totalCount } }'
        for _ in range(100):  # 30 s at most
            await asyncio.sleep(0.3)
            yield b" "
        yield b'"}'

    async with serving(settings, body_timeout=1) as (_, http):
        slow = asyncio.create_task(
            http.post("/graphql", content=trickle(), headers={"content-type": "application/json"})
        )
        small = await post(http, {"query": "{ users(first: 1) { nodes { handle } } }"})
        assert small.json()["data"] == {"users": {"nodes": [{"handle": "alice"}]}}
        assert not slow.done()
        response = await slow
    assert response.status_code == 408
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert response.headers["connection"] == "close"


async def test_a_fragment_bomb_does_not_hold_up_a_live_server(settings: Settings) -> None:
    """Over real sockets, a bomb of 2^40 fields is refused at once, and a small query sent
    meanwhile is answered; before fragments were measured once, such a document kept the
    server's event loop busy for hours. The bound is the execution deadline."""
    deadline = settings.execution_timeout
    with live_server(settings) as url:
        async with httpx.AsyncClient(timeout=30) as http:
            bombs = [asyncio.create_task(http.post(url, json={"query": bomb(40)})) for _ in "abc"]
            await asyncio.sleep(0.01)
            small = await http.post(url, json={"query": "{ users(first: 1) { nodes { handle } } }"})
            refused = await asyncio.gather(*bombs)
    assert small.json()["data"] == {"users": {"nodes": [{"handle": "alice"}]}}
    assert small.elapsed.total_seconds() < deadline
    for response in refused:
        assert response.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_FIELDS"
        assert response.elapsed.total_seconds() < deadline
