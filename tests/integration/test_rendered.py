"""JSON written by PostgreSQL (db/rendered.py) is what orjson writes of Python's values,
byte for byte: strings, nulls, DateTime, global ids, cursors and whole objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
import pytest

from wren.db import queries, rendered
from wren.ids import encode_cursor, to_global_id
from wren.level_form import Selected

# Every ASCII character PostgreSQL text can hold (not NUL), escapes and non-ASCII ones.
STRINGS = [
    "".join(map(chr, range(1, 128))),
    'quote " backslash \\ slash / tab \t newline \n return \r',
    "\b\f\x0b\x1f\x7f",
    "é ü ß 中文 \u2028 \u2029 \ufeff 😀 \U0010ffff",
    "",
]
TIMES = [
    datetime(2025, 2, 1, tzinfo=UTC),
    datetime(2025, 2, 1, 10, 11, 12, 1, tzinfo=UTC),
    datetime(2025, 2, 1, 10, 11, 12, 999999, tzinfo=UTC),
    datetime(2025, 2, 1, 10, 11, 12, 120000, tzinfo=UTC),
    datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(5, 1, 1, 0, 0, 0, 500, tzinfo=UTC),
    datetime(1900, 6, 1, 12, 0, 0, 5, tzinfo=UTC),  # before 1970: negative epoch
    datetime(9999, 12, 31, 23, 59, 58, 500000, tzinfo=UTC),  # (:59.999999 reads as infinity)
    datetime(2024, 3, 31, 1, 30, tzinfo=UTC) + timedelta(microseconds=7),
]


async def one(db: asyncpg.Connection, expression: str, value: Any, sql_type: str = "text") -> str:
    """`expression` of a row t whose column v holds `value`."""
    value = await db.fetchval(f"SELECT {expression} FROM (SELECT $1::{sql_type} AS v) t", value)
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("text", STRINGS)
async def test_strings(db: asyncpg.Connection, text: str) -> None:
    got = await one(db, rendered.json_string("v")("t"), text)
    assert got.encode() == orjson.dumps(text)


async def test_a_null_string_is_null(db: asyncpg.Connection) -> None:
    nullable = rendered.json_string("v", nullable=True)("t")
    assert await one(db, f"{nullable}::text", None) == "null"
    assert await one(db, nullable, "x") == '"x"'


# A session time zone with an offset in seconds (Amsterdam until 1937) must not show.
@pytest.mark.parametrize("zone", ["UTC", "Europe/Amsterdam", "America/St_Johns"])
async def test_datetimes_and_cursors(db: asyncpg.Connection, zone: str) -> None:
    await db.execute(f"SET TimeZone = '{zone}'")
    for at in TIMES:
        read = await db.fetchval("SELECT $1::timestamptz", at)  # as asyncpg returns it
        assert read == at
        got = await one(db, rendered.json_datetime("v")("t"), at, "timestamptz")
        assert got.encode() == orjson.dumps(read.isoformat()), at
        cursor = await one(db, rendered.cursor("t.v", "42"), at, "timestamptz")
        assert cursor.encode() == orjson.dumps(encode_cursor(read, 42)), at


@pytest.mark.parametrize("pk", [1, 9, 10, 123, 99999, 1234567890123, 2**63 - 1])
async def test_global_ids(db: asyncpg.Connection, pk: int) -> None:
    for type_name in ("User", "Post", "Comment"):
        got = await one(db, rendered.global_id(type_name, "v")("t"), pk, "bigint")
        assert got.encode() == orjson.dumps(to_global_id(type_name, pk))


def leaf(name: str, key: str | None = None) -> Selected:
    return Selected(key or name, name, False, None)


async def test_an_object_with_aliases_typename_and_a_joined_object(
    db: asyncpg.Connection,
) -> None:
    selection = (
        leaf("__typename"),
        leaf("body", "text"),
        leaf("createdAt"),
        Selected("by", "author", False, (leaf("id"), leaf("bio"), leaf("__typename"))),
    )
    expression = rendered.COMMENT.json(selection)
    assert expression is not None
    at = TIMES[1]
    got = await db.fetchval(
        f"SELECT {expression} FROM (SELECT $1::text AS body, $2::timestamptz AS created_at) c,"
        " (SELECT 7::bigint AS id, NULL::text AS bio) a",
        'a "b"',
        at,
    )
    expected = {
        "__typename": "Comment",
        "text": 'a "b"',
        "createdAt": at.isoformat(),
        "by": {"id": to_global_id("User", 7), "bio": None, "__typename": "User"},
    }
    assert got.encode() == orjson.dumps(expected)


@pytest.mark.parametrize(
    "selection",
    [
        (leaf("handle"), Selected("posts", "posts", True, (leaf("id"),))),  # a list field
        (leaf("stats"),),  # not a column
        (Selected("handle", "handle", True, None),),  # arguments
    ],
)
def test_what_is_not_a_column_is_not_rendered(selection: tuple[Selected, ...]) -> None:
    assert rendered.USER.json(selection) is None


def test_an_object_is_one_flat_concatenation() -> None:
    """A joined object's JSON is spliced into its parent's, literals side by side merged:
    each `||` copies the text so far."""
    author = Selected("author", "author", False, (leaf("handle"),))
    expression = rendered.COMMENT.json((leaf("body"), author))
    assert expression == (
        '(\'{"body":\' || to_json(c.body)::text || \',"author":{"handle":\''
        " || to_json(a.handle)::text || '}}')"
    )


async def test_a_user_by_handle_keeps_its_generic_plan(db: asyncpg.Connection) -> None:
    """The lookup is planned once per connection, not at each execution: its generic
    plan is costed as a custom plan for one handle is."""
    json = rendered.USER.json((leaf("id"), leaf("handle")))
    assert json is not None
    sql = str(queries.users_by_handle_rendering(json)).replace(":handles", "$1")
    statement = await db.prepare(sql)
    for _ in range(8):
        assert await statement.fetch(["nobody"]) == []
    plans = await db.fetchrow(
        "SELECT custom_plans, generic_plans FROM pg_prepared_statements WHERE name = $1",
        statement.get_name(),
    )
    assert plans is not None
    assert (plans["custom_plans"], plans["generic_plans"]) == (5, 3)
