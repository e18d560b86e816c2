"""GraphQL over HTTP: media types, status codes, methods, GraphiQL."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StatementLog

GQL_RESPONSE = "application/graphql-response+json"
TYPENAME = {"query": "{ __typename }"}


async def test_graphql_response_json_is_negotiated(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=TYPENAME, headers={"accept": GQL_RESPONSE})
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GQL_RESPONSE}; charset=utf-8"
    assert response.json()["data"] == {"__typename": "Query"}


async def test_json_is_the_default(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=TYPENAME)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["x-request-id"]


async def test_every_response_says_how_long_the_server_took(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/graphql", json=TYPENAME),
        await client.post("/graphql", json={"query": "{"}),
    ):
        name, _, duration = response.headers["server-timing"].partition(";dur=")
        assert name == "app"
        assert 0 < float(duration) < 60_000


async def test_unacceptable_media_type_is_406(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json=TYPENAME, headers={"accept": "text/csv"})
    assert response.status_code == 406


@pytest.mark.parametrize(("accept", "status"), [(GQL_RESPONSE, 400), ("application/json", 200)])
@pytest.mark.parametrize(
    ("query", "code"),
    [("{", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")],
)
async def test_document_errors(
    client: httpx.AsyncClient, sql: StatementLog, accept: str, status: int, query: str, code: str
) -> None:
    response = await client.post("/graphql", json={"query": query}, headers={"accept": accept})
    assert response.status_code == status
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["extensions"]["code"] == code
    assert len(sql) == 0


@pytest.mark.parametrize(("accept", "status"), [(GQL_RESPONSE, 400), ("application/json", 200)])
async def test_variables_that_do_not_coerce(
    client: httpx.AsyncClient, accept: str, status: int
) -> None:
    query = "query($h: String!) { userByHandle(handle: $h) { id } }"
    response = await client.post(
        "/graphql", json={"query": query, "variables": {"h": 3}}, headers={"accept": accept}
    )
    assert response.status_code == status
    assert "data" not in response.json()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"query": ',
        b'{"variables": {}}',
        b'{"query": 1}',
        b'{"query": "{a}", "variables": []}',
    ],
)
async def test_malformed_requests_are_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_get_runs_queries(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql",
        params={
            "query": "query T($n: String!) { __type(name: $n) { name } }",
            "variables": '{"n": "User"}',
        },
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"__type": {"name": "User"}}


async def test_get_never_runs_a_mutation(client: httpx.AsyncClient, sql: StatementLog) -> None:
    # The check reads the operation type before validation: it holds whatever the schema has.
    response = await client.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"
    assert len(sql) == 0


async def test_other_methods_are_405(client: httpx.AsyncClient) -> None:
    response = await client.put("/graphql", json=TYPENAME)
    assert response.status_code == 405


async def test_graphiql_for_browsers_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_nul_characters_are_a_client_error(client: httpx.AsyncClient) -> None:
    # PostgreSQL cannot compare a string holding U+0000: BAD_USER_INPUT, not a server error.
    query = "query($h: String!) { userByHandle(handle: $h) { id } }"
    for body in (
        {"query": query, "variables": {"h": "a\u0000b"}},
        {"query": '{ userByHandle(handle: "\\u0000") { id } }'},
    ):
        response = await client.post("/graphql", json=body)
        assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_deeply_nested_variables_are_no_server_error(client: httpx.AsyncClient) -> None:
    query = "query($h: String!) { userByHandle(handle: $h) { id } }"
    deep = "[" * 1000 + "]" * 1000
    body = f'{{"query": "{query}", "variables": {{"h": "x", "deep": {deep}}}}}'
    response = await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code < 500
