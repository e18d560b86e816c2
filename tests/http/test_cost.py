"""The cost estimate: objects fetched, `first` multiplied along the nesting."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode, parse

from tests.conftest import operation
from wren.pipeline.cost import compile_cost
from wren.schema import build_schema


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema()._schema


def cost(schema: GraphQLSchema, text: str, variables: dict[str, Any] | None = None) -> int | None:
    document = parse(text)
    definitions = document.definitions
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    op = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    return compile_cost(schema, op, fragments).evaluate(variables)


def test_first_multiplies_along_the_nesting(schema: GraphQLSchema) -> None:
    text = "{ users(first: 10) { nodes { posts(first: 5) { nodes { title } } } } }"
    # users 1, its nodes 10, their posts 10, the posts' nodes 50.
    assert cost(schema, text) == 1 + 10 + 10 + 50


def test_scalars_and_introspection_are_free(schema: GraphQLSchema) -> None:
    assert cost(schema, "{ __typename __schema { types { name fields { name } } } }") == 0


def test_variables_and_defaults(schema: GraphQLSchema) -> None:
    text = "query($n: Int = 4) { users(first: $n) { nodes { handle } } }"
    assert cost(schema, text) == 1 + 4
    assert cost(schema, text, {"n": 7}) == 1 + 7
    # `posts` defaults to first: 20 in the schema.
    assert cost(schema, "{ posts { nodes { id } } }") == 1 + 20


def test_fragments_count_where_they_are_spread(schema: GraphQLSchema) -> None:
    text = """
      query { users(first: 3) { nodes { ...U } } }
      fragment U on User { followers(first: 2) { nodes { handle } } }
    """
    assert cost(schema, text) == 1 + 3 + 3 + 6


def test_the_nested_bomb_is_huge(schema: GraphQLSchema) -> None:
    text = """{ users(first: 100) { nodes { posts(first: 100) { nodes {
        comments(first: 100) { nodes { body } } } } } } }"""
    assert (cost(schema, text) or 0) > 1_000_000


@pytest.mark.parametrize(
    "name", ["Directory", "Feed", "Leaderboard", "Profile", "Timeline", "UserByHandle", "Write"]
)
def test_contract_operations_fit_the_default_limit(schema: GraphQLSchema, name: str) -> None:
    estimate = cost(
        schema,
        operation(name),
        {"first": 100, "handle": "alice", "input": {"title": "T", "body": "B"}},
    )
    assert estimate is not None
    assert estimate <= 10_000
