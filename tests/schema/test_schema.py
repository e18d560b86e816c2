"""The served schema: committed snapshot, and compatibility with the public contract."""

from __future__ import annotations

import pytest
from graphql import GraphQLSchema, find_breaking_changes
from graphql import build_schema as parse_sdl

from tests.conftest import CONTRACT, ROOT
from wren.schema import build_schema, sdl


def test_snapshot_is_current() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert sdl(build_schema()) == committed, "schema changed: run `wren export-schema`"


def _served() -> GraphQLSchema:
    return parse_sdl(sdl(build_schema()))


def _contract() -> GraphQLSchema:
    return parse_sdl((CONTRACT / "schema.graphql").read_text())


def test_served_schema_keeps_the_contract() -> None:
    """The whole contract, every root type included."""
    changes = find_breaking_changes(_contract(), _served())
    assert [f"{c.type.name}: {c.description}" for c in changes] == []


@pytest.mark.parametrize("root", ["query_type", "mutation_type", "subscription_type"])
def test_every_contract_root_is_served(root: str) -> None:
    contract_root = getattr(_contract(), root)
    served_root = getattr(_served(), root)
    assert contract_root is not None
    assert served_root is not None
    assert served_root.name == contract_root.name


SHARED_CONTRACT = ROOT.parent / "shared" / "contract"


@pytest.mark.skipif(not SHARED_CONTRACT.is_dir(), reason="no published contract beside it")
def test_contract_copy_matches_the_published_contract() -> None:
    """The repository's copy of the contract is the published one, file for file."""
    ours = {p.relative_to(CONTRACT): p.read_bytes() for p in CONTRACT.rglob("*") if p.is_file()}
    theirs = {
        p.relative_to(SHARED_CONTRACT): p.read_bytes()
        for p in SHARED_CONTRACT.rglob("*")
        if p.is_file()
    }
    assert sorted(ours) == sorted(theirs)
    assert [name for name in sorted(ours) if ours[name] != theirs[name]] == []


def test_every_field_has_a_description() -> None:
    """What GraphiQL users read: a field without one is caught here."""
    missing = [
        f"{name}.{field_name}"
        for name, graphql_type in _served().type_map.items()
        if not name.startswith("__") and hasattr(graphql_type, "fields")
        for field_name, field in graphql_type.fields.items()  # type: ignore[attr-defined]
        if not field.description
    ]
    assert missing == []
