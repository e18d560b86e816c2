"""Global ids and cursors: opaque, reversible, and strict about what they accept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wren.errors import BadUserInput
from wren.ids import (
    NODE_TYPES,
    Keyset,
    decode_cursor,
    encode_cursor,
    from_global_id,
    pk_of,
    to_global_id,
)


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


# Properties over generated values and strings (hypothesis).

TYPES = st.sampled_from(sorted(NODE_TYPES))
PKS = st.integers(min_value=1, max_value=2**63 - 1)
# Microseconds from the epoch that datetime can hold, both sides of it.
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """`text` with one character inserted, replaced or dropped."""
    at = draw(st.integers(min_value=0, max_value=len(text)))
    char = draw(st.one_of(st.sampled_from(BASE64URL + "+/=!*\x00 \n"), st.characters()))
    kind = draw(st.sampled_from(["insert", "replace", "drop"]))
    if kind == "insert":
        return text[:at] + char + text[at:]
    if kind == "replace":
        return text[:at] + char + text[at + 1 :]
    return text[:at] + text[at + 1 :]


def near(encoded: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Near misses of real encodings."""
    return encoded.flatmap(edited)


GLOBAL_IDS = st.builds(to_global_id, TYPES, PKS)
CURSORS = st.builds(encode_cursor, MOMENTS, PKS)
# Any text, text in the alphabet of our encodings, and near misses of real ones.
CANDIDATES = st.one_of(
    st.text(),
    st.text(alphabet=BASE64URL + "+/=", max_size=40),
    near(GLOBAL_IDS),
    near(CURSORS),
    GLOBAL_IDS,
    CURSORS,
)


@settings(deadline=None)
@given(TYPES, PKS)
def test_every_global_id_decodes_to_what_was_encoded(type_name: str, pk: int) -> None:
    assert from_global_id(to_global_id(type_name, pk)) == (type_name, pk)


@settings(deadline=None)
@given(MOMENTS, PKS)
def test_every_cursor_decodes_to_what_was_encoded(at: datetime, pk: int) -> None:
    assert decode_cursor(encode_cursor(at, pk)) == Keyset(at, pk)


@settings(deadline=None, max_examples=2000)
@given(CANDIDATES)
def test_a_decoded_global_id_is_the_canonical_encoding_of_its_value(text: str) -> None:
    decoded = from_global_id(text)
    if decoded is not None:
        assert to_global_id(*decoded) == text


def cursor_or_none(text: str) -> Keyset | None:
    try:
        return decode_cursor(text)
    except BadUserInput:
        return None


@settings(deadline=None, max_examples=2000)
@given(CANDIDATES)
def test_a_decoded_cursor_is_the_canonical_encoding_of_its_value(text: str) -> None:
    key = cursor_or_none(text)
    if key is not None:
        assert encode_cursor(key.at, key.id) == text


@settings(deadline=None)
@given(TYPES, PKS, st.data())
def test_an_edited_id_never_names_the_same_object(
    type_name: str, pk: int, data: st.DataObject
) -> None:
    exact = to_global_id(type_name, pk)
    text = data.draw(edited(exact))
    if text != exact:  # replacing a character by itself changes nothing
        assert from_global_id(text) != (type_name, pk)


@settings(deadline=None)
@given(MOMENTS, PKS, st.data())
def test_an_edited_cursor_never_names_the_same_position(
    at: datetime, pk: int, data: st.DataObject
) -> None:
    exact = encode_cursor(at, pk)
    text = data.draw(edited(exact))
    if text != exact:
        assert cursor_or_none(text) != Keyset(at, pk)


def test_the_lenient_examples_name_nothing() -> None:
    assert from_global_id("VXNlcjox") == ("User", 1)
    for lenient in ["VXNlcjox\u0000", "VXNlcjox!!*", "VXNlcjox==", "VXNlcjoxMB", "VXNlcjowMQ"]:
        assert from_global_id(lenient) is None
    cursor = encode_cursor(datetime(2025, 2, 4, tzinfo=UTC), 4)
    for lenient in [cursor + "\u0000", cursor + "!!*", "\n" + cursor]:
        with pytest.raises(BadUserInput):
            decode_cursor(lenient)
