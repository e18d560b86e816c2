"""What client input must look like: user-written values and the limits of arguments.

Each failure is BAD_USER_INPUT naming what is wrong: `extensions.field` for a value of a
mutation's input, `extensions.argument` for a field's argument.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from wren.db.loaders import MAX_RECOMMENDED
from wren.errors import BadUserInput

HANDLE = re.compile(r"[a-z0-9_]{3,30}")
# Line breaks and tabs belong in multi-line text; every other control character
# (and lone surrogates, which PostgreSQL cannot store) is refused everywhere.
_LAYOUT = frozenset("\n\r\t")
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})
# Items of one connection page (`first`).
MAX_FIRST = 100


def _clean(value: str, field: str, *, lo: int, hi: int, multiline: bool = False) -> str:
    text = value.strip()
    if not lo <= len(text) <= hi:
        raise BadUserInput(
            f"`{field}` must be {lo}-{hi:,} characters long (after trimming), got {len(text):,}.",
            field=field,
        )
    allowed = _LAYOUT if multiline else frozenset()
    for char in text:
        if char not in allowed and unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise BadUserInput(
                f"`{field}` must not contain control characters (found U+{ord(char):04X}).",
                field=field,
            )
    return text


def handle(value: str, field: str = "handle") -> str:
    """3-30 characters of a-z, 0-9 and _."""
    text = value.strip()
    if not HANDLE.fullmatch(text):
        raise BadUserInput(
            f"`{field}` must be 3-30 characters of lower-case letters, digits and underscores.",
            field=field,
        )
    return text


def display_name(value: str, field: str = "displayName") -> str:
    """1-80 characters on one line."""
    return _clean(value, field, lo=1, hi=80)


def bio(value: str | None, field: str = "bio") -> str | None:
    """Up to 500 characters, line breaks allowed; blank is no bio."""
    if value is None or not value.strip():
        return None
    return _clean(value, field, lo=1, hi=500, multiline=True)


def password(value: str, field: str = "password") -> str:
    """8-200 characters, kept exactly as typed (spaces count)."""
    if not 8 <= len(value) <= 200:
        raise BadUserInput(
            f"`{field}` must be 8-200 characters long, got {len(value):,}.", field=field
        )
    if any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value):
        raise BadUserInput(f"`{field}` must not contain control characters.", field=field)
    return value


def title(value: str, field: str = "title") -> str:
    """1-200 characters on one line."""
    return _clean(value, field, lo=1, hi=200)


def post_body(value: str, field: str = "body") -> str:
    """1-20,000 characters, line breaks allowed."""
    return _clean(value, field, lo=1, hi=20_000, multiline=True)


def comment_body(value: str, field: str = "body") -> str:
    """1-2,000 characters, line breaks allowed."""
    return _clean(value, field, lo=1, hi=2_000, multiline=True)


def _count(value: int, argument: str, *, hi: int) -> int:
    if not 0 <= value <= hi:
        raise BadUserInput(
            f"`{argument}` must be between 0 and {hi}, got {value}.", argument=argument
        )
    return value


def page_size(value: int, argument: str = "first") -> int:
    """Items of one connection page: 0 to MAX_FIRST."""
    return _count(value, argument, hi=MAX_FIRST)


def recommended_count(value: int, argument: str = "first") -> int:
    """Recommended users of one user: 0 to MAX_RECOMMENDED (all that are computed)."""
    return _count(value, argument, hi=MAX_RECOMMENDED)


# Count arguments whose range is not a page's: (type, field) -> the check. Every other
# `first` is a page (page_size).
_COUNTS: dict[tuple[str, str], Callable[[int, str], int]] = {
    ("User", "recommendedUsers"): recommended_count,
}


def argument_check(type_name: str, field: str, argument: str) -> Callable[[int, str], int] | None:
    """The range check of a field's count argument (`first`); None for other arguments.

    The pipeline applies it before anything runs (pipeline/arguments.py), so that an
    argument out of range is reported as such rather than as a cost over the limit; the
    resolvers apply it again.
    """
    if argument != "first":
        return None
    return _COUNTS.get((type_name, field), page_size)
