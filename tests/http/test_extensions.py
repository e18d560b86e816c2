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

from tests.conftest import gql, operation
from wren.app import create_app
from wren.http.view import GraphQLView
from wren.pipeline import Pipeline
from wren.schema import build_schema
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


def hello_client(settings: Settings) -> httpx.AsyncClient:
    schema = strawberry.Schema(query=Query, extensions=[RefuseOnRequest])
    view = GraphQLView(Pipeline(schema, settings), settings, context, lambda _: None)  # type: ignore[arg-type,return-value]
    app = Starlette(routes=[Route("/graphql", view, methods=["GET", "POST"])])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_extension_results_are_added(settings: Settings) -> None:
    async with hello_client(settings) as http:
        body = (await http.post("/graphql", json={"query": "{ hello }"})).json()
    assert body == {
        "data": {"hello": "hi"},
        "extensions": {"cost": {"estimated": 0, "limit": 10_000}, "checked": True},
    }


async def test_extension_can_refuse_the_request(settings: Settings) -> None:
    async with hello_client(settings) as http:
        response = await http.post(
            "/graphql", json={"query": "{ hello }"}, headers={"x-refuse": "1"}
        )
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert body["errors"] == [
        {"message": "Log in again.", "extensions": {"code": "UNAUTHENTICATED"}}
    ]


class SeeEveryField(SchemaExtension):
    """Wraps every resolver call, as per-field permissions or tracing would."""

    seen: list[str] = []

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        SeeEveryField.seen.append(f"{info.parent_type.name}.{info.field_name}")
        return _next(root, info, *args, **kwargs)


async def test_an_extension_wrapping_resolvers_sees_every_field(
    settings: Settings, client: httpx.AsyncClient, small_world: None
) -> None:
    """The fast path would bypass `resolve`: with such an extension it is not taken."""
    application = create_app(settings, schema=build_schema([SeeEveryField]))
    SeeEveryField.seen.clear()
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as wrapped:
            body = await gql(wrapped, operation("Timeline"), {"first": 2})
    assert body == await gql(client, operation("Timeline"), {"first": 2})
    assert "Query.posts" in SeeEveryField.seen
    assert "User.handle" in SeeEveryField.seen
