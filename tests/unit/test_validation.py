"""The rules of user-written values."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wren import validation
from wren.errors import BadUserInput


def test_values_are_trimmed() -> None:
    assert validation.handle("  wren_1 ") == "wren_1"
    assert validation.display_name("\t Ada Lovelace \n") == "Ada Lovelace"
    assert validation.title("  A title ") == "A title"
    assert validation.post_body("\n para one\n\npara two\n") == "para one\n\npara two"
    assert validation.bio("   ") is None
    assert validation.bio(None) is None


def test_passwords_are_kept_as_typed() -> None:
    assert validation.password("  eight  ") == "  eight  "


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (validation.handle, "ab"),
        (validation.handle, "x" * 31),
        (validation.handle, "Upper"),
        (validation.handle, "dots.no"),
        (validation.handle, "ünï"),
        (validation.display_name, ""),
        (validation.display_name, "x" * 81),
        (validation.display_name, "new\nline"),
        (validation.title, "\u200b" * 0),
        (validation.title, "t" * 201),
        (validation.title, "del\x7f"),
        (validation.post_body, "b" * 20_001),
        (validation.post_body, "nul\x00"),
        (validation.post_body, "lone \ud800 surrogate"),
        (validation.comment_body, "c" * 2_001),
        (validation.comment_body, " \n\t "),
        (validation.password, "short"),
        (validation.password, "p" * 201),
        (validation.password, "password\x00"),
        (validation.bio, "b" * 501),
    ],
)
def test_refused(check: object, value: str) -> None:
    with pytest.raises(BadUserInput) as caught:
        check(value)  # type: ignore[operator]
    assert caught.value.extensions["code"] == "BAD_USER_INPUT"
    assert caught.value.extensions["field"]


def test_the_field_is_named() -> None:
    with pytest.raises(BadUserInput) as caught:
        validation.post_body("", field="postBody")
    assert caught.value.extensions == {"code": "BAD_USER_INPUT", "field": "postBody"}


def test_limits_count_characters_not_bytes() -> None:
    assert validation.title("é" * 200) == "é" * 200
    assert validation.comment_body("🙂" * 2_000) == "🙂" * 2_000


@pytest.mark.parametrize(
    ("check", "most"),
    [(validation.page_size, validation.MAX_FIRST), (validation.recommended_count, 50)],
)
def test_argument_limits(check: Callable[[int], int], most: int) -> None:
    assert [check(0), check(most)] == [0, most]
    for value in (-1, most + 1):
        with pytest.raises(BadUserInput) as caught:
            check(value)
        assert caught.value.extensions == {"code": "BAD_USER_INPUT", "argument": "first"}
        assert caught.value.message == f"`first` must be between 0 and {most}, got {value}."
