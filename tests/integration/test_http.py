"""The endpoint: GraphiQL for browsers, queries over POST and GET."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.usefixtures("small_world")


async def test_graphiql_in_a_browser(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_query_over_get(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query($h: String!) { userByHandle(handle: $h) { handle } }",
            "variables": '{"h": "bob"}',
        },
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"userByHandle": {"handle": "bob"}}


async def test_syntax_error_is_a_graphql_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": "{ users { "})
    body = response.json()
    # Nothing ran: the response has no `data` entry at all (GraphQL over HTTP).
    assert "data" not in body
    assert "Syntax Error" in body["errors"][0]["message"]
    assert response.status_code < 500
