"""Strawberry schema extensions run around execution, as under Strawberry's own view."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import strawberry
from graphql import ExecutionResult, GraphQLError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from strawberry.extensions import SchemaExtension

from wren.http.view import GraphQLView
from wren.settings import Settings


@strawberry.type
class Query:
    @strawberry.field(description="A greeting.")
    def hello(self) -> str:
        return "hi"


class RefuseOnRequest(SchemaExtension):
    """Short-circuits execution like a credentials check, and reports what it saw."""

    def on_execute(self) -> Iterator[None]:
        if self.execution_context.context.refuse:
            self.execution_context.result = ExecutionResult(
                data=None,
                errors=[GraphQLError("Log in again.", extensions={"code": "UNAUTHENTICATED"})],
            )
        yield

    def get_results(self) -> dict[str, Any]:
        return {"checked": True}


async def context(request: Request) -> Any:
    return SimpleNamespace(refuse="x-refuse" in request.headers)


def client(settings: Settings) -> httpx.AsyncClient:
    schema = strawberry.Schema(query=Query, extensions=[RefuseOnRequest])
    view = GraphQLView(schema, settings, context, lambda _: None)  # type: ignore[arg-type,return-value]
    app = Starlette(routes=[Route("/graphql", view.handle, methods=["GET", "POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_extension_results_are_added(settings: Settings) -> None:
    async with client(settings) as http:
        body = (await http.post("/graphql", json={"query": "{ hello }"})).json()
    assert body == {
        "data": {"hello": "hi"},
        "extensions": {"cost": {"estimated": 0, "limit": 10_000}, "checked": True},
    }


async def test_extension_can_refuse_the_request(settings: Settings) -> None:
    async with client(settings) as http:
        response = await http.post(
            "/graphql", json={"query": "{ hello }"}, headers={"x-refuse": "1"}
        )
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [
        {"message": "Log in again.", "extensions": {"code": "UNAUTHENTICATED"}}
    ]
