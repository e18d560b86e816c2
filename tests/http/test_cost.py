"""The cost estimate: objects fetched, `first` multiplied along the nesting."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode, parse

from tests.conftest import operation
from tests.http.conftest import fragments_bomb
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


def bomb(levels: int, leaf: str = "handle") -> str:
    return "{ users(first: 1) { nodes { ...F0 } } }\n" + fragments_bomb(levels, leaf)


class CountingFragments(dict[str, FragmentDefinitionNode]):
    """The fragments of a document, counting how often each is looked up."""

    def __init__(self, document: str) -> None:
        definitions = parse(document).definitions
        super().__init__(
            (d.name.value, d) for d in definitions if isinstance(d, FragmentDefinitionNode)
        )
        self.lookups: dict[str, int] = {}

    def get(self, name: str, default: Any = None) -> Any:
        self.lookups[name] = self.lookups.get(name, 0) + 1
        return super().get(name, default)

    def __getitem__(self, name: str) -> FragmentDefinitionNode:
        self.lookups[name] = self.lookups.get(name, 0) + 1
        return super().__getitem__(name)


def test_each_fragment_is_compiled_once(schema: GraphQLSchema) -> None:
    # 2^60 spreads of the last fragment once expanded: compiled in 61 lookups.
    text = bomb(60, leaf="followers(first: 3) { nodes { handle } }")
    fragments = CountingFragments(text)
    op = next(d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode))
    estimate = compile_cost(schema, op, fragments).evaluate(None)
    assert fragments.lookups == {f"F{i}": 1 for i in range(61)}
    # users 1 + its nodes 1, then 2^60 followers connections of 3 nodes each: not
    # reported, being past what a JSON number holds exactly.
    assert estimate is None
    small = bomb(10, leaf="followers(first: 3) { nodes { handle } }")
    assert cost(schema, small) == 1 + 1 + 2**10 * (1 + 3)


def test_fragments_with_variables_are_evaluated_per_request(schema: GraphQLSchema) -> None:
    text = bomb(12, leaf="followers(first: $n) { nodes { handle } }").replace(
        "{ users", "query($n: Int! = 2) { users", 1
    )
    assert cost(schema, text) == 2 + 2**12 * (1 + 2)
    assert cost(schema, text, {"n": 5}) == 2 + 2**12 * (1 + 5)
