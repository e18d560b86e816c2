"""The compiled fast path answers exactly what graphql-core answers, or steps aside."""

from __future__ import annotations

import json
from typing import Any

import pytest
from graphql import ExecutionResult, execute, parse

from tests.conftest import operation
from tests.integration.world import USERS, pid, post_cursor, uid
from wren.app import Resources
from wren.compiled import CompiledQueries
from wren.context import Context
from wren.schema import build_schema
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

SCHEMA = build_schema()
CORE = SCHEMA._schema

READS: list[tuple[str, dict[str, Any]]] = [
    (operation("Timeline"), {"first": 3}),
    (operation("Timeline"), {"first": 2, "after": post_cursor(3)}),
    (operation("Directory"), {"first": 4}),
    (operation("UserByHandle"), {"handle": "alice"}),
    (operation("UserByHandle"), {"handle": "nobody"}),
    (operation("Profile"), {"handle": "alice"}),
    (operation("Leaderboard"), {"first": 4}),
    (
        """query($id: ID!) { user(id: $id) { __typename handle
          followers(first: 1) {
            totalCount edges { cursor node { handle } } pageInfo { hasNextPage } }
          ...more } }
        fragment more on User { following { nodes { id displayName bio createdAt } } }""",
        {"id": uid("bob")},
    ),
    (
        "query($id: ID!) { a: post(id: $id) { title } b: posts(first: 1) { nodes { body } } }",
        {"id": pid(2)},
    ),
    (  # level forms on nested levels where users repeat, an empty list, a default argument
        """{ users(first: 4) { nodes { handle stats { postCount engagementScore }
          none: recommendedUsers(first: 0) { handle }
          recommendedUsers(first: 2) { handle stats { likesReceived }
            recommendedUsers(first: 1) { handle } byDefault: recommendedUsers { id } } } } }""",
        {},
    ),
]


def context(resources: Resources, settings: Settings, viewer: int | None = None) -> Context:
    return Context(settings=settings, db=resources.db, store=resources.cache, viewer_id=viewer)


async def core(text: str, variables: dict[str, Any], ctx: Context) -> ExecutionResult:
    result = execute(CORE, parse(text), context_value=ctx, variable_values=variables)
    assert not isinstance(result, ExecutionResult)
    return await result


@pytest.mark.parametrize(("text", "variables"), READS)
async def test_same_data_as_graphql_core(
    resources: Resources, settings: Settings, text: str, variables: dict[str, Any]
) -> None:
    compiled = CompiledQueries(CORE)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    fast = await compiled.run(plan, context(resources, settings), variables)
    expected = await core(text, variables, context(resources, settings))
    assert expected.errors is None
    assert fast == expected.data


@pytest.mark.parametrize(
    ("text", "viewer"),
    [
        (operation("Feed"), USERS["alice"]),
        ("{ posts(first: 6) { nodes { likeCount viewerHasLiked } } }", USERS["carol"]),
        ("{ posts(first: 6) { nodes { likeCount viewerHasLiked } } }", None),
    ],
)
async def test_viewer_fields_same_as_graphql_core(
    resources: Resources, settings: Settings, text: str, viewer: int | None
) -> None:
    variables = {"first": 6}
    compiled = CompiledQueries(CORE)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    fast = await compiled.run(plan, context(resources, settings, viewer), variables)
    expected = await core(text, variables, context(resources, settings, viewer))
    assert expected.errors is None
    assert fast == expected.data
    liked = json.dumps(fast)
    assert '"viewerHasLiked": false' in liked
    assert ('"viewerHasLiked": true' in liked) is (viewer is not None)


@pytest.mark.parametrize(
    "text",
    [
        '{ node(id: "x") { id } }',  # an interface
        "{ posts { nodes { title @include(if: true) } } }",  # a directive
        "{ __schema { queryType { name } } }",  # introspection
        "{ posts { nodes { title } } posts { nodes { body } } }",  # a key selected twice
        'mutation { deletePost(id: "x") }',  # not a query
    ],
)
def test_what_is_not_compiled(text: str) -> None:
    assert CompiledQueries(CORE).plan(parse(text), None) is None


@pytest.mark.parametrize(
    ("text", "variables"),
    [
        ("{ posts(first: 1000) { nodes { title } } }", {}),  # a resolver raises
        ("query($f: Int!) { posts(first: $f) { nodes { title } } }", {"f": "many"}),  # bad variable
        ("{ users { nodes { recommendedUsers(first: 51) { handle } } } }", {}),  # a level form
    ],
)
async def test_errors_step_aside_for_graphql_core(
    resources: Resources, settings: Settings, text: str, variables: dict[str, Any]
) -> None:
    compiled = CompiledQueries(CORE)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    assert await compiled.run(plan, context(resources, settings), variables) is None


async def test_plans_are_cached_per_document() -> None:
    compiled = CompiledQueries(CORE)
    document = parse(operation("Timeline"))
    assert compiled.plan(document, "Timeline") is compiled.plan(document, "Timeline")


async def test_cached_fields_resolve_a_level_at_once(
    resources: Resources, settings: Settings
) -> None:
    compiled = CompiledQueries(CORE)
    plan = compiled.plan(parse(operation("Leaderboard")), None)
    assert plan is not None
    ctx = context(resources, settings)
    data = await compiled.run(plan, ctx, {"first": 4})
    expected = await core(operation("Leaderboard"), {"first": 4}, context(resources, settings))
    assert data == expected.data
    # One batch per field for the whole page: the per-user loaders were never made.
    assert {"stats_of", "recommended_of"} <= vars(ctx.cache).keys()
    assert not {"stats", "recommended_users"} & vars(ctx.cache).keys()
