"""Tags of stored answers, read from their data with their operation's selections."""

from __future__ import annotations

from typing import Any

from graphql import OperationDefinitionNode, parse

from tests.conftest import operation
from wren import _compat
from wren.cache.tags import changed, tags_of
from wren.ids import to_global_id
from wren.schema import build_schema

SCHEMA = _compat.core_schema(build_schema())


def tags(text: str, data: dict[str, Any]) -> list[str]:
    document = parse(text)
    [op] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return tags_of(SCHEMA, document, op, data)


def test_objects_named_by_their_ids_and_root_lists() -> None:
    post, alice, comment = (
        to_global_id("Post", 5),
        to_global_id("User", 1),
        to_global_id("Comment", 2),
    )
    data = {
        "posts": {
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "edges": [
                {
                    "cursor": "c",
                    "node": {
                        "id": post,
                        "title": "A3",
                        "createdAt": "2025-02-05T00:00:00Z",
                        "likeCount": 1,
                        "author": {"id": alice, "handle": "alice", "displayName": "Alice"},
                        "comments": {
                            "totalCount": 1,
                            "nodes": [
                                {
                                    "id": comment,
                                    "body": "b",
                                    "author": {"id": alice, "handle": "alice"},
                                }
                            ],
                        },
                    },
                }
            ],
        }
    }
    assert tags(operation("Timeline"), data) == ["Comment:2", "Post:5", "User:1", "list:posts"]


def test_objects_without_ids_take_their_types_tag() -> None:
    data = {
        "users": {
            "nodes": [
                {
                    "handle": "alice",
                    "posts": {"nodes": [{"title": "A3", "comments": {"nodes": []}}]},
                }
            ]
        }
    }
    # No id anywhere below `users`: every type it may show, comments too (none here).
    assert tags(operation("Directory"), data) == ["Comment", "Post", "User", "list:users"]


def test_aliases_fragments_and_nothing_found() -> None:
    text = """
    query($id: ID!) {
      mine: node(id: $id) { ...Shown }
      missing: userByHandle(handle: "nobody") { handle }
    }
    fragment Shown on Node { key: id ... on Post { author { ... on User { id } } } }
    """
    post, bob = to_global_id("Post", 3), to_global_id("User", 2)
    data = {"mine": {"key": post, "author": {"id": bob}}, "missing": None}
    assert tags(text, data) == ["Post:3", "User", "User:2"]


def test_a_part_with_ids_is_walked_and_one_without_is_not() -> None:
    text = "{ posts(first: 2) { nodes { id author { handle } } } }"
    first, second = to_global_id("Post", 1), to_global_id("Post", 2)
    data = {"posts": {"nodes": [{"id": first, "author": {"handle": "a"}}, {"id": second}]}}
    assert tags(text, data) == ["Post:1", "Post:2", "User", "list:posts"]
    assert tags(text, {"posts": {"nodes": []}}) == ["list:posts"]


def test_a_write_invalidates_its_objects_and_their_type() -> None:
    assert changed("Post", [1, 2]) == ["Post:1", "Post:2", "Post"]
    assert changed("Comment", []) == []


def test_a_user_rendered_whole_is_named_by_its_id() -> None:
    """A root lookup rendered as one fragment (schema/query.py) is read back: the answer
    is tagged with the user's id, as when the user is built, not with every User."""
    import orjson

    bob = to_global_id("User", 2)
    user = orjson.Fragment(f'{{"id":"{bob}","handle":"bob","displayName":"Bob"}}')
    assert tags(operation("UserByHandle"), {"userByHandle": user}) == ["User:2"]
    built = {"id": bob, "handle": "bob", "displayName": "Bob"}
    assert tags(operation("UserByHandle"), {"userByHandle": built}) == ["User:2"]
    assert tags(operation("UserByHandle"), {"userByHandle": None}) == ["User"]


def test_json_written_by_postgresql_takes_the_types_it_may_show() -> None:
    """Rendered items (db/rendered.py) are orjson fragments: not read back, they tag the
    answer with every type they may show (a write to any comment or user invalidates)."""
    import orjson

    post = to_global_id("Post", 5)
    comment = orjson.Fragment(b'{"id":"Q29tbWVudDoy","body":"b","author":{"id":"x"}}')
    data = {
        "posts": {
            "pageInfo": {"hasNextPage": False, "endCursor": None},
            "edges": [
                {
                    "cursor": "c",
                    "node": {
                        "id": post,
                        "title": "A3",
                        "createdAt": "2025-02-05T00:00:00Z",
                        "likeCount": 1,
                        "author": {"id": to_global_id("User", 1), "handle": "a"},
                        "comments": {"totalCount": 1, "nodes": [comment]},
                    },
                }
            ],
        }
    }
    assert tags(operation("Timeline"), data) == [
        "Comment",
        "Post:5",
        "User",
        "User:1",
        "list:posts",
    ]
