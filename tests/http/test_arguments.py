"""Arguments refused before anything runs: ranges, and what variables give them.

An argument out of its range is the client's mistake about that argument, reported as
BAD_USER_INPUT naming it (`extensions.argument`) and its range, before the cost check; a
variable that coerces to something an argument cannot take is refused the same way, with
a code, instead of failing during execution.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import GraphQLObjectType

from tests.conftest import StatementLog
from wren.db.loaders import MAX_RECOMMENDED
from wren.schema import build_schema
from wren.validation import MAX_FIRST

pytestmark = pytest.mark.usefixtures("small_world")

STRICT = "application/graphql-response+json"


async def refused(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The errors of a request refused as a whole (400, no data)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers={"accept": STRICT}
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    errors: list[dict[str, Any]] = body["errors"]
    return errors


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        ("{ posts(first: 100000) { nodes { id } } }", None, "between 0 and 100, got 100000"),
        ("{ users(first: -1) { nodes { id } } }", None, "between 0 and 100, got -1"),
        (
            "query($n: Int!) { posts(first: $n) { nodes { id } } }",
            {"n": 100000},
            "between 0 and 100, got 100000",
        ),
        (  # in a fragment, two levels down
            "{ users(first: 1) { nodes { ...U } } } "
            "fragment U on User { recommendedUsers(first: 51) { handle } }",
            None,
            "between 0 and 50, got 51",
        ),
        (  # out of range although the cost is small
            '{ user(id: "x") { followers(first: 101) { totalCount } } }',
            None,
            "between 0 and 100, got 101",
        ),
    ],
)
async def test_an_argument_out_of_range_is_bad_user_input(
    client: httpx.AsyncClient,
    sql: StatementLog,
    query: str,
    variables: dict[str, Any] | None,
    message: str,
) -> None:
    [error] = await refused(client, query, variables)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "first"
    assert message in error["message"]
    assert error["locations"]
    assert len(sql) == 0


async def test_the_range_is_reported_before_the_cost(client: httpx.AsyncClient) -> None:
    """Both wrong: the argument is what the client must fix first."""
    query = """{ users(first: 100) { nodes { posts(first: 1000) { nodes {
        comments(first: 100) { nodes { id } } } } } } }"""
    errors = await refused(client, query)
    assert [(e["extensions"]["code"], e["extensions"]["argument"]) for e in errors] == [
        ("BAD_USER_INPUT", "first")
    ]


def _fields_with_first() -> list[tuple[str, str]]:
    schema = build_schema()._schema
    found = []
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLObjectType) and not type_.name.startswith("__"):
            found += [(type_.name, name) for name, f in type_.fields.items() if "first" in f.args]
    return sorted(found)


# Where each type's field is selected from.
_WITHIN = {
    "Query": "{ %s }",
    "Subscription": "subscription { %s }",
    "User": "{ users(first: 1) { nodes { %s } } }",
    "Post": "{ posts(first: 1) { nodes { %s } } }",
}


@pytest.mark.parametrize(("type_name", "field"), _fields_with_first())
async def test_every_count_argument_is_checked_before_running(
    client: httpx.AsyncClient, sql: StatementLog, type_name: str, field: str
) -> None:
    """Its range as the resolver checks it: one past the end is refused up front."""
    high = MAX_RECOMMENDED if field == "recommendedUsers" else MAX_FIRST
    selection = f"{field}(first: {high + 1}) {{ __typename }}"
    [error] = await refused(client, _WITHIN[type_name] % selection)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert f"between 0 and {high}, got {high + 1}" in error["message"]
    assert len(sql) == 0
    # The upper end itself is fine.
    inside = _WITHIN[type_name] % selection.replace(str(high + 1), str(high))
    errors = (await client.post("/graphql", json={"query": inside})).json().get("errors", [])
    assert all(e["extensions"]["code"] != "BAD_USER_INPUT" for e in errors)


@pytest.mark.parametrize(
    ("query", "variables", "argument"),
    [
        # `first` has a default, so validation lets a nullable variable in; null is not a page.
        ("query($n: Int) { users(first: $n) { nodes { handle } } }", {"n": None}, "first"),
        (  # in a fragment
            "query($n: Int) { users(first: 1) { nodes { ...U } } } "
            "fragment U on User { followers(first: $n) { totalCount } }",
            {"n": None},
            "first",
        ),
        (  # a variable with a default, overridden with null, in an input object
            'mutation($t: String = "T") { createPost(input: {title: $t, body: "B"}) { id } }',
            {"t": None},
            "input",
        ),
        (  # a directive's argument
            "query($f: Boolean = true) { users(first: 1) { nodes { handle @include(if: $f) } } }",
            {"f": None},
            "if",
        ),
    ],
)
async def test_a_null_variable_for_a_non_null_argument_is_bad_user_input(
    client: httpx.AsyncClient,
    sql: StatementLog,
    query: str,
    variables: dict[str, Any],
    argument: str,
) -> None:
    [error] = await refused(client, query, variables)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert "None" in error["message"] or "null" in error["message"]
    assert len(sql) == 0


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($n: Int!) { users(first: $n) { totalCount } }", {"n": None}),
        ("query($n: Int!) { users(first: $n) { totalCount } }", {}),
        ("query($n: Int!) { users(first: $n) { totalCount } }", {"n": "ten"}),
        ("query($n: Int!) { users(first: $n) { totalCount } }", {"n": 2**40}),
        ("query($n: Int!) { users(first: $n) { totalCount } }", {"n": [1, 2]}),
        (
            "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }",
            {"i": {"title": "T", "body": "B", "extra": 1}},
        ),
        ("mutation($i: CreatePostInput!) { createPost(input: $i) { id } }", {"i": {"title": "T"}}),
        ("mutation($i: CreatePostInput!) { createPost(input: $i) { id } }", {"i": "T"}),
    ],
)
async def test_every_coercion_failure_is_bad_user_input(
    client: httpx.AsyncClient, sql: StatementLog, query: str, variables: dict[str, Any]
) -> None:
    errors = await refused(client, query, variables)
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}
    assert len(sql) == 0


async def test_coercion_errors_are_bounded(client: httpx.AsyncClient) -> None:
    """A variable with thousands of unknown fields: a bounded list of errors."""
    variables = {"i": {"title": "T", "body": "B", **{f"x{n}": n for n in range(5000)}}}
    query = "mutation($i: CreatePostInput!) { createPost(input: $i) { id } }"
    errors = await refused(client, query, variables)
    assert len(errors) <= 51
    assert {e["extensions"]["code"] for e in errors} == {"BAD_USER_INPUT"}


async def test_arguments_in_range_with_variables_run(client: httpx.AsyncClient) -> None:
    query = """query($n: Int, $f: Boolean = true) {
        users(first: $n) { nodes { handle @include(if: $f) } } }"""
    for variables in ({}, {"n": 1}, {"n": 1, "f": False}):
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        assert "errors" not in body, body
