"""The compiled fast path answers exactly what graphql-core answers, errors included, or
refuses the document before running it."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from graphql import ExecutionResult, GraphQLError, execute, parse
from graphql.execution import get_variable_values

from tests.conftest import operation
from tests.integration.world import USERS, pid, post_cursor, uid
from wren import _compat
from wren.app import Resources
from wren.compiled import CompiledQueries
from wren.context import Context
from wren.schema import build_schema
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

SCHEMA = build_schema()
CORE = _compat.core_schema(SCHEMA)

READS: list[tuple[str, dict[str, Any]]] = [
    (operation("Timeline"), {"first": 3}),
    (operation("Timeline"), {"first": 2, "after": post_cursor(3)}),
    (operation("Directory"), {"first": 4}),
    (operation("UserByHandle"), {"handle": "alice"}),
    (operation("UserByHandle"), {"handle": "nobody"}),
    (operation("Profile"), {"handle": "alice"}),
    (  # rendered whole by PostgreSQL: any case, aliases, __typename, a null, a date, a list
        """query($h: String!) { u: userByHandle(handle: $h) { __typename bio createdAt
          name: displayName id posts(first: 1) { nodes { title } } }
          none: userByHandle(handle: "nobody") { id } }""",
        {"h": "DaVe"},
    ),
    ('{ userByHandle(handle: "Alice") { bio handle } }', {}),
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
    (  # rendered by PostgreSQL: edges with cursors, aliases, __typename, nulls, dates
        """query($id: ID!) { user(id: $id) {
          followers(first: 3) { totalCount pageInfo { hasNextPage endCursor }
            edges { __typename cursor n: node { __typename id handle displayName bio createdAt } } }
          following { nodes { handle } edges { cursor } }
          posts(first: 2) { nodes { id title body createdAt likeCount author { id handle bio }
            comments(first: 2) { pageInfo { startCursor endCursor } nodes { id body createdAt
              by: author { displayName createdAt } } } } } } }""",
        {"id": uid("alice")},
    ),
    (  # counted by the page's statement: an empty page after a cursor, lists without items
        """query($id: ID!, $after: String) { user(id: $id) {
          posts(first: 2, after: $after) { totalCount pageInfo { hasNextPage } nodes { id } }
          following { totalCount } } posts(first: 5) { nodes { comments { totalCount } } } }""",
        {"id": uid("alice"), "after": post_cursor(1)},
    ),
    (  # not rendered: a field that is no column, a list selected twice, a page after a cursor
        """query($after: String) { users(first: 4) { nodes {
          posts(first: 1) { nodes { title viewerHasLiked } }
          followers(first: 1, after: $after) { nodes { handle } }
          following { a: nodes { handle } b: nodes { id } } } } }""",
        {"after": None},
    ),
    (  # lists nested in a rendered level's statement: literal `first`s (0, a default),
        # edges, totalCount, __typename, aliases, empty lists; a literal cursor is not
        """{ posts(first: 4) { totalCount pageInfo { hasNextPage endCursor } edges {
          __typename cursor node { id createdAt
            comments(first: 2) { __typename totalCount edges { cursor node { body
              author { handle posts(first: 1) { totalCount nodes { title } } } } } }
            none: comments(first: 0) { totalCount nodes { id } }
            all: comments { nodes { id author { displayName } } } } } }
          users(first: 3) { nodes { handle posts { edges { cursor } nodes { title likeCount
            comments(first: 1, after: "azoxOjE") { nodes { id } } } } } } }""",
        {},
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
    return Context(
        settings=settings,
        db=resources.db,
        store=resources.cache,
        accounts=resources.accounts,
        viewer_id=viewer,
    )


async def core(text: str, variables: dict[str, Any], ctx: Context) -> ExecutionResult:
    result = execute(CORE, parse(text), context_value=ctx, variable_values=variables)
    assert not isinstance(result, ExecutionResult)
    return await result


async def fast(
    text: str, variables: dict[str, Any], ctx: Context
) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
    """The fast path's answer (the plan must exist)."""
    compiled = CompiledQueries(CORE)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    coerced = get_variable_values(CORE, plan.operation.variable_definitions or (), variables)
    assert not isinstance(coerced, list)
    return await compiled.run(plan, ctx, coerced)


def formatted(errors: list[GraphQLError] | None) -> list[dict[str, Any]]:
    """Errors as clients see them, in path order (the specification leaves order open)."""
    return sorted((e.formatted for e in errors or []), key=lambda e: json.dumps(e, default=str))


@pytest.mark.parametrize(("text", "variables"), READS)
async def test_same_data_as_graphql_core(
    resources: Resources, settings: Settings, text: str, variables: dict[str, Any]
) -> None:
    data, errors = await fast(text, variables, context(resources, settings))
    expected = await core(text, variables, context(resources, settings))
    assert expected.errors is None
    assert errors == []
    # Byte for byte as the response encodes them (rendered values are JSON fragments).
    assert orjson.dumps(data) == orjson.dumps(expected.data)


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
    data, errors = await fast(text, variables, context(resources, settings, viewer))
    expected = await core(text, variables, context(resources, settings, viewer))
    assert expected.errors is None
    assert errors == []
    assert orjson.dumps(data) == orjson.dumps(expected.data)
    liked = json.dumps(data)
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


ERRORS: list[tuple[str, dict[str, Any]]] = [
    ("{ posts(first: 1000) { nodes { title } } }", {}),  # a non-null root field raises
    ("{ users { nodes { recommendedUsers(first: 51) { handle } } } }", {}),  # a level form
    (  # a nullable parent catches the error; its sibling still answers
        "query($id: ID!) { user(id: $id) { handle posts(first: 101) { totalCount } } "
        "posts(first: 1) { nodes { title } } }",
        {"id": uid("alice")},
    ),
    (  # errors inside a list of non-null items: the first one nulls the list's parent
        "{ posts(first: 3) { nodes { title author { handle posts(first: -1) { totalCount } } } } }",
        {},
    ),
    (  # an error below a nullable field, and one in a sibling root field
        "query($id: ID!) { user(id: $id) { recommendedUsers(first: 99) { id } } "
        'b: user(id: $id) { posts(after: "bad") { totalCount } } }',
        {"id": uid("bob")},
    ),
]


@pytest.mark.parametrize(("text", "variables"), ERRORS)
async def test_errors_are_reported_as_graphql_core_reports_them(
    resources: Resources, settings: Settings, text: str, variables: dict[str, Any]
) -> None:
    """Located at their paths, nulls propagated: the fast path never hands over."""
    data, errors = await fast(text, variables, context(resources, settings))
    expected = await core(text, variables, context(resources, settings))
    assert expected.errors
    assert orjson.dumps(data) == orjson.dumps(expected.data)
    assert formatted(errors) == formatted(expected.errors)


async def test_plans_are_cached_per_document() -> None:
    compiled = CompiledQueries(CORE)
    document = parse(operation("Timeline"))
    assert compiled.plan(document, "Timeline") is compiled.plan(document, "Timeline")


async def test_cached_fields_resolve_a_level_at_once(
    resources: Resources, settings: Settings
) -> None:
    ctx = context(resources, settings)
    data, _ = await fast(operation("Leaderboard"), {"first": 4}, ctx)
    expected = await core(operation("Leaderboard"), {"first": 4}, context(resources, settings))
    assert orjson.dumps(data) == orjson.dumps(expected.data)
    # One batch per field for the whole page: the per-user loaders were never made.
    assert {"stats_of", "recommended_of"} <= vars(ctx.cache).keys()
    assert not {"stats", "recommended_users"} & vars(ctx.cache).keys()


async def test_a_refused_document_is_logged_once_and_counted(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.http.conftest import serving
    from wren.pipeline import Pipeline

    query = '{ node(id: "VXNlcjox") { id } }'  # an interface: not compiled
    async with serving(settings) as (application, http):
        pipeline: Pipeline = application.state.pipeline
        with caplog.at_level("INFO", logger="wren.pipeline"):
            for _ in range(3):
                response = await http.post("/graphql", json={"query": query})
                assert response.status_code == 200
    assert pipeline.executor.fallbacks == (1 if settings.compiled_queries else 0)
    lines = [r.getMessage() for r in caplog.records if "runs on graphql-core" in r.getMessage()]
    assert lines == (
        ["query (anonymous) runs on graphql-core: abstract or enum types"]
        if settings.compiled_queries
        else []
    )


def test_lists_of_columns_are_rendered_by_postgresql() -> None:
    """Directory's whole tree comes as JSON written by PostgreSQL: its connections below
    the users have literal `first`s, so the users' statement renders them as subqueries
    and nothing is planned below the users' nodes. With the posts' `first` from a
    variable, the users' level is built from rows and the posts' level renders its nodes,
    comments included. Profile's posts (like counts included) are rendered."""
    plan = CompiledQueries(CORE).plan(parse(operation("Directory")), None)
    assert plan is not None
    [users] = plan.fields
    [user_nodes] = users.children or []
    assert user_nodes.children is None
    assert user_nodes.serialize is None
    assert getattr(users.function, "__name__", "") == "rendered_level"
    variable = (
        "query($n: Int!) { users(first: 2) { nodes { handle posts(first: $n) { nodes { title"
        " comments(first: 5) { nodes { body author { handle } } } } } } } }"
    )
    plan = CompiledQueries(CORE).plan(parse(variable), None)
    assert plan is not None
    [users] = plan.fields
    [user_nodes] = users.children or []
    _handle, posts = user_nodes.children or []
    [post_nodes] = posts.children or []
    assert post_nodes.children is None
    assert getattr(posts.function, "__name__", "") == "rendered"
    assert getattr(users.function, "__name__", "") == "level"  # the posts' `first` is a variable
    profile = CompiledQueries(CORE).plan(parse(operation("Profile")), None)
    assert profile is not None
    [user] = profile.fields
    profile_posts = next(f for f in user.children or [] if f.key == "posts")
    assert getattr(profile_posts.function, "__name__", "") == "rendered"


def test_a_user_by_handle_of_columns_is_rendered_whole() -> None:
    """UserByHandle's user comes as PostgreSQL's JSON with nothing planned below it;
    Profile's (stats, recommendations: no columns) is built and completed."""
    plan = CompiledQueries(CORE).plan(parse(operation("UserByHandle")), None)
    assert plan is not None
    [user] = plan.fields
    assert user.children is None
    assert user.serialize is None
    assert getattr(user.function, "__name__", "") == "rendered_by_handle"
    profile = CompiledQueries(CORE).plan(parse(operation("Profile")), None)
    assert profile is not None
    [user] = profile.fields
    assert user.children is not None
    assert getattr(user.function, "__name__", "") == "level"
