"""HTTP caching of GET responses: Cache-Control from the operation's policy, ETag, 304."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import operation

SIGN_UP = "mutation($input: SignUpInput!) { signUp(input: $input) { token } }"


def query(text: str, variables: dict[str, Any] | None = None) -> dict[str, str]:
    params = {"query": text}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return params


async def test_a_public_query_is_cacheable_by_anyone(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params=query(operation("Timeline"), {"first": 5}))
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert response.headers["cache-control"] == "public, max-age=10"
    assert response.headers["vary"] == "Accept"
    assert response.headers["etag"].startswith('"')
    assert response.headers["etag"].endswith('"')


async def test_if_none_match_gets_304_without_a_body(client: httpx.AsyncClient) -> None:
    params = query(operation("UserByHandle"), {"handle": "nobody"})
    first = await client.get("/graphql", params=params)
    etag = first.headers["etag"]
    again = await client.get("/graphql", params=params, headers={"if-none-match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == "public, max-age=60"
    # Weak comparison, lists and `*` (RFC 9110); another tag gets the body.
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        matched = await client.get("/graphql", params=params, headers={"if-none-match": header})
        assert matched.status_code == 304, header
    other = await client.get("/graphql", params=params, headers={"if-none-match": '"other"'})
    assert other.status_code == 200
    assert other.json() == first.json()


async def test_the_etag_follows_the_answer_and_the_media_type(client: httpx.AsyncClient) -> None:
    a = await client.get("/graphql", params=query(operation("UserByHandle"), {"handle": "a1"}))
    b = await client.get("/graphql", params=query(operation("UserByHandle"), {"handle": "a2"}))
    # Both answer null, so the same body and the same tag...
    assert a.content == b.content
    assert a.headers["etag"] == b.headers["etag"]
    c = await client.get(
        "/graphql",
        params=query(operation("UserByHandle"), {"handle": "a1"}),
        headers={"accept": "application/graphql-response+json"},
    )
    # ...but another representation has another tag.
    assert c.headers["etag"] != a.headers["etag"]


async def test_a_viewer_dependent_query_is_private(
    client: httpx.AsyncClient, database_url: str
) -> None:
    signed_up = await client.post(
        "/graphql",
        json={
            "query": SIGN_UP,
            "variables": {
                "input": {"handle": "cacher", "displayName": "C", "password": "a-long-password"}
            },
        },
    )
    token = signed_up.json()["data"]["signUp"]["token"]
    response = await client.get(
        "/graphql",
        params=query("{ viewer { handle } }"),
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.json()["data"] == {"viewer": {"handle": "cacher"}}
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["vary"] == "Accept, Authorization"


async def test_errors_and_refusals_are_never_stored(client: httpx.AsyncClient) -> None:
    cases = [
        query("{ userByHandle(handle: 1) { handle } }"),  # validation
        query("{ nope }"),
        query("{ users(first: 1000) { totalCount } }"),  # refused argument
        query('mutation { createPost(input: {title: "t", body: "b"}) { id } }'),  # POST only
        {"query": "{"},  # syntax
        {},  # nothing at all
    ]
    for params in cases:
        response = await client.get("/graphql", params=params)
        assert response.headers["cache-control"] == "no-store", (params, response.text)
        assert "etag" not in response.headers


async def test_a_bad_token_is_not_stored(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params=query(operation("UserByHandle"), {"handle": "a"}),
        headers={"authorization": "Bearer nonsense"},
    )
    assert response.status_code == 401
    assert response.headers["cache-control"] == "no-store"


async def test_post_responses_carry_no_cache_headers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": operation("UserByHandle"), "variables": {"handle": "a"}}
    )
    assert response.status_code == 200
    assert "cache-control" not in response.headers
    assert "etag" not in response.headers
