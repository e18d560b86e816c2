"""Authors joined into post and comment rows."""

from __future__ import annotations

from datetime import UTC, datetime

from wren.ids import to_global_id
from wren.schema.user import User

AT = datetime(2024, 1, 2, tzinfo=UTC)


def test_the_joined_author_is_built_from_the_author_columns() -> None:
    row = {
        "author_id": 7,
        "author_handle": "carol",
        "author_display_name": "Carol",
        "author_bio": None,
        "author_created_at": AT,
    }
    author = User.author_of(row)
    assert author is not None
    assert (author.id(), author.pk, author.handle, author.created_at) == (
        to_global_id("User", 7),
        7,
        "carol",
        AT,
    )


def test_a_row_without_author_columns_has_no_joined_author() -> None:
    assert User.author_of({"author_id": 7}) is None
