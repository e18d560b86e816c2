"""/graphql reaches the view before FastAPI's stack (WrenApp): what still holds there."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

TYPENAME = {"query": "{ __typename }"}


async def test_responses_close_their_connection_while_draining(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    assert "connection" not in (await client.post("/graphql", json=TYPENAME)).headers
    app.state.shutdown.begin_drain()
    try:
        post = await client.post("/graphql", json=TYPENAME)
        get = await client.get("/graphql", params=TYPENAME)
    finally:
        app.state.shutdown.draining = False
    assert post.json() == {
        "data": {"__typename": "Query"},
        "extensions": {"cost": {"estimated": 0, "limit": 10_000}},
    }
    assert post.headers["connection"] == "close"
    assert get.status_code == 200
    assert get.headers["connection"] == "close"


async def test_served_under_a_root_path(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, root_path="/api")
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as http:
        response = await http.post("/api/graphql", json=TYPENAME)
    assert response.status_code == 200
    assert response.json()["data"] == {"__typename": "Query"}


async def test_other_methods_get_the_routers_405(client: httpx.AsyncClient) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = await client.request(method, "/graphql", json=TYPENAME)
        assert response.status_code == 405
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_a_path_below_graphql_is_not_the_endpoint(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql/x", json=TYPENAME)
    assert response.status_code == 404


async def test_each_response_is_one_start_and_one_body(app: FastAPI) -> None:
    body = b'{"query": "{ __typename }"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 40000),
        "server": ("wren.test", 80),
        "state": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 200
    assert sent[1]["body"] == (
        b'{"data":{"__typename":"Query"},"extensions":{"cost":{"estimated":0,"limit":10000}}}'
    )
