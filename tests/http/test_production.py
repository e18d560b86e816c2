"""Production mode: no GraphiQL, introspection or suggestions; every failure masked."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.http.conftest import serving
from wren.app import Resources
from wren.settings import Settings

SECRET = "production-test-secret-of-enough-length"
LEAKS = ("Traceback", "asyncpg", "sqlalchemy", "SELECT", "psycopg", "postgres", 'File "')


def assert_no_leak(text: str) -> None:
    for leak in LEAKS:
        assert leak not in text, leak


@pytest.fixture
async def production(settings: Settings) -> Any:
    async with serving(settings, environment="production", jwt_secret=SECRET) as served:
        yield served


async def test_graphiql_is_off(production: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, http = production
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in response.text.lower()
    assert response.status_code in {400, 406}


async def test_introspection_is_off(production: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, http = production
    body = (await http.post("/graphql", json={"query": "{ __schema { types { name } } }"})).json()
    assert "data" not in body
    assert "introspection" in body["errors"][0]["message"].lower()
    # __typename is not introspection of the schema: clients rely on it.
    ok = (await http.post("/graphql", json={"query": "{ __typename }"})).json()
    assert ok["data"] == {"__typename": "Query"}


async def test_suggestions_are_off(production: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, http = production
    body = (await http.post("/graphql", json={"query": "{ userz { id } }"})).json()
    assert "Did you mean" not in body["errors"][0]["message"]


async def test_suggestions_in_development(client: httpx.AsyncClient) -> None:
    body = (await client.post("/graphql", json={"query": "{ userz { id } }"})).json()
    assert "Did you mean" in body["errors"][0]["message"]


async def test_can_be_enabled_explicitly(settings: Settings) -> None:
    enabled = {"introspection": True, "graphiql": True}
    async with serving(settings, environment="production", jwt_secret=SECRET, **enabled) as (
        _,
        http,
    ):
        body = (
            await http.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
        ).json()
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
        page = await http.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" in page.text.lower()


async def test_unexpected_errors_are_masked_and_logged(
    production: tuple[FastAPI, httpx.AsyncClient],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, http = production
    resources: Resources = app.state.resources

    async def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError('asyncpg: relation "users" SELECT * FROM users failed')

    monkeypatch.setattr(resources.db, "fetch", broken)
    with caplog.at_level(logging.ERROR, logger="wren.http"):
        response = await http.post(
            "/graphql", json={"query": "{ users(first: 1) { nodes { handle } } }"}
        )
    assert_no_leak(response.text)
    error = response.json()["errors"][0]
    assert error["message"] == "Internal server error."
    request_id = error["extensions"]["requestId"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert response.headers["x-request-id"] == request_id
    assert any(request_id in record.getMessage() for record in caplog.records)
    assert any(record.exc_info for record in caplog.records)


async def test_failures_outside_execution_are_masked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(settings, environment="production", jwt_secret=SECRET) as (app, http):

        def broken(*_: Any) -> Any:
            raise ConnectionError("redis://10.0.0.1:6379 refused")

        monkeypatch.setattr(app.state.pipeline.documents, "get", broken)
        with caplog.at_level(logging.ERROR, logger="wren.http"):
            response = await http.post("/graphql", json={"query": "{ __typename }"})
    assert response.status_code == 500
    assert_no_leak(response.text)
    assert "redis" not in response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
