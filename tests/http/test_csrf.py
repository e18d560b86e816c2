"""CSRF: what a browser sends cross-site without a preflight never runs an operation."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest

from tests.conftest import StatementLog
from tests.http.conftest import serving
from wren.settings import Settings

MUTATION = '{"query": "mutation { __typename }"}'
QUERY = '{"query": "{ users(first: 1) { nodes { id } } }"}'


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        None,
    ],
)
@pytest.mark.parametrize("body", [MUTATION, QUERY])
async def test_simple_request_bodies_are_415(
    client: httpx.AsyncClient, sql: StatementLog, content_type: str | None, body: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    response = await client.post("/graphql", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert len(sql) == 0


async def test_get_mutation_is_405_even_with_preflight(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={"query": "mutation M { __typename }"},
        headers={"apollo-require-preflight": "true"},
    )
    assert response.status_code == 405


async def test_get_needs_a_preflight_header_when_required(settings: Settings) -> None:
    async with serving(settings, csrf_require_preflight=True) as (_, http):
        params = {"query": "{ __typename }"}
        refused = await http.get("/graphql", params=params)
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"]["code"] == "CSRF_PREFLIGHT_REQUIRED"
        allowed = await http.get(
            "/graphql", params=params, headers={"apollo-require-preflight": "true"}
        )
        assert allowed.json() == {
            "data": {"__typename": "Query"},
            "extensions": {"cost": {"estimated": 0, "limit": 10_000}},
        }


SIGN_UP = "mutation($input: SignUpInput!) { signUp(input: $input) { token } }"
CREATE_POST = 'mutation { createPost(input: {title: "csrf", body: "b"}) { id } }'


async def test_a_real_mutation_never_runs_from_a_simple_request(
    client: httpx.AsyncClient, database_url: str
) -> None:
    account = {"handle": "csrf_victim", "displayName": "V", "password": "victim-password"}
    signed_up = await client.post(
        "/graphql", json={"query": SIGN_UP, "variables": {"input": account}}
    )
    auth = {"authorization": f"Bearer {signed_up.json()['data']['signUp']['token']}"}
    body = json.dumps({"query": CREATE_POST})
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = await client.post(
            "/graphql", content=body, headers={"content-type": content_type, **auth}
        )
        assert response.status_code == 415
    response = await client.get("/graphql", params={"query": CREATE_POST}, headers=auth)
    assert response.status_code == 405
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        assert await conn.fetchval("SELECT count(*) FROM posts WHERE title = 'csrf'") == 0
    finally:
        await conn.close()
    # The same mutation as JSON, which a cross-site page cannot send without a preflight, runs.
    response = await client.post("/graphql", json={"query": CREATE_POST}, headers=auth)
    assert response.json()["data"]["createPost"]["id"]
