"""Global ids and cursors: opaque, reversible, and strict about what they accept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wren.errors import BadUserInput
from wren.ids import Keyset, decode_cursor, encode_cursor, from_global_id, pk_of, to_global_id


@pytest.mark.parametrize("type_name", ["User", "Post", "Comment"])
def test_global_id_round_trip(type_name: str) -> None:
    gid = to_global_id(type_name, 12345)
    assert "12345" not in gid
    assert from_global_id(gid) == (type_name, 12345)
    assert pk_of(gid, type_name) == 12345


def test_global_id_of_another_type_names_nothing() -> None:
    assert pk_of(to_global_id("Post", 1), "User") is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "!!!",
        "VXNlcjo",  # "User:" with no number
        to_global_id("Tag", 1),
        to_global_id("User", 0),
        to_global_id("User", 2**63),
        "VXNlcjotMQ",  # "User:-1"
        "VXNlcjogMQ",  # "User: 1"
        "w6k",  # not ASCII once decoded
    ],
)
def test_malformed_global_ids_decode_to_none(bad: str) -> None:
    assert from_global_id(bad) is None


def test_cursor_round_trip_keeps_microseconds() -> None:
    at = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 42)) == Keyset(at, 42)


def test_cursor_before_the_epoch() -> None:
    at = datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC)
    assert decode_cursor(encode_cursor(at, 7)) == Keyset(at, 7)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "nope",
        to_global_id("User", 1),
        "azox",
        "azoxOjA",
        "azp4OjE",
        "azoxOjk5OTk5OTk5OTk5OTk5OTk5OTk5",
    ],
)
def test_malformed_cursor_is_bad_user_input(bad: str) -> None:
    with pytest.raises(BadUserInput) as raised:
        decode_cursor(bad)
    assert raised.value.extensions == {"code": "BAD_USER_INPUT", "argument": "after"}
