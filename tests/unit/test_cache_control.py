"""Cache policies of operations: the most restrictive of the fields they select."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import FragmentDefinitionNode, GraphQLObjectType, OperationDefinitionNode, parse

from tests.conftest import operation
from wren import _compat
from wren.pipeline import cache_control
from wren.pipeline.cache_control import FIELD_HINTS, TYPE_HINTS, CachePolicy, compile_policy
from wren.schema import build_schema

SCHEMA = _compat.core_schema(build_schema())


def policy(text: str) -> CachePolicy:
    document = parse(text)
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return compile_policy(SCHEMA, operations[0], fragments)


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("UserByHandle", "public, max-age=60"),
        ("Timeline", "public, max-age=10"),  # posts, likeCount and comments: 10 s
        ("Directory", "public, max-age=10"),  # User.posts, Post.comments
        ("Profile", "public, max-age=10"),  # User.posts and likeCount
        ("Leaderboard", "public, max-age=30"),  # users and stats
        ("Feed", "private, max-age=10"),  # the viewer's feed
    ],
)
def test_the_contracts_operations(name: str, header: str) -> None:
    assert policy(operation(name)).header() == header


def test_a_private_field_makes_the_operation_private() -> None:
    text = '{ post(id: "x") { title viewerHasLiked } }'
    assert policy(text) == CachePolicy(60, True)
    assert policy("{ viewer { handle } }") == CachePolicy(60, True)


def test_leaves_inherit_and_the_smallest_max_age_wins() -> None:
    assert policy('{ userByHandle(handle: "a") { handle } }') == CachePolicy(60, False)
    assert policy('{ userByHandle(handle: "a") { stats { postCount } } }').max_age == 30
    assert policy("{ users(first: 1) { totalCount } }").max_age == 30
    # The same through fragments, inline and named.
    text = """
        query { userByHandle(handle: "a") { ...F ... on User { posts(first: 1) { totalCount } } } }
        fragment F on User { handle }
    """
    assert policy(text) == CachePolicy(10, False)


def test_typename_alone_and_mutations_are_never_cached() -> None:
    assert policy("{ __typename }").header() == "no-store"
    assert policy('mutation { logIn(handle: "a", password: "b") { token } }').header() == (
        "no-store"
    )


def test_every_fragment_is_walked_once_however_often_it_is_spread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each fragment spreads the next twice: 2**20 paths, 20 fragments.
    levels = 20
    fragments = [
        f"fragment F{i} on User {{ handle ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    ]
    fragments.append(f"fragment F{levels} on User {{ displayName }}")
    text = 'query { userByHandle(handle: "a") { ...F0 } }\n' + "\n".join(fragments)
    walked: list[str] = []
    original = cache_control._Walker.selections

    def counting(self: cache_control._Walker, *args: object) -> object:
        walked.append("x")
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(cache_control._Walker, "selections", counting)
    assert policy(text) == CachePolicy(60, False)
    # The operation, userByHandle's selection, and each fragment's selection once.
    assert len(walked) == 2 + levels + 1


def test_every_hint_names_a_type_or_field_of_the_schema() -> None:
    for type_name in TYPE_HINTS:
        assert SCHEMA.get_type(type_name) is not None, type_name
    for type_name, field_name in FIELD_HINTS:
        kind = SCHEMA.get_type(type_name)
        assert isinstance(kind, GraphQLObjectType), type_name
        assert field_name in kind.fields, (type_name, field_name)


def test_the_readme_lists_every_hint() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("<!-- README test: cache hints -->", 1)[1].split("\n\n", 1)[0]
    listed = {}
    for line in table.splitlines()[3:]:
        name, age, scope = (cell.strip() for cell in line.strip("|").split("|"))
        listed[name.strip("`")] = (int(age) if age else None, scope or None)
    hints = dict(TYPE_HINTS.items()) | {
        f"{kind}.{field}": hint for (kind, field), hint in FIELD_HINTS.items()
    }
    assert listed == {
        name: (hint.max_age, hint.scope.value if hint.scope else None)
        for name, hint in hints.items()
    }
