"""Opaque Relay global ids and keyset cursors, decoded strictly.

Only the exact string Wren encodes decodes. Base64 decoding on its own drops characters
it does not know ("VXNlcjox\\u0000" and "VXNlcjox!!*" read as User 1), takes padding and
the standard alphabet, and ignores the unused bits of a last character; digits may carry
a sign, leading zeros, spaces or underscores for int(). Each decoder therefore encodes
what it decoded and compares: a string is accepted only when it is its value's canonical
form, so every value has exactly one id (or cursor), and anything else names nothing.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from wren.errors import BadUserInput, NotFound

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)
NODE_TYPES = frozenset({"User", "Post", "Comment"})


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(text: str) -> str:
    # base64.urlsafe_b64encode, minus its layers: this runs for every id and cursor shown.
    encoded = binascii.b2a_base64(text.encode(), newline=False).translate(_URLSAFE)
    return encoded.rstrip(b"=").decode()


def _unb64(token: str) -> str | None:
    """The text `token` encodes, when `token` is exactly what _b64 makes of it."""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeError is a ValueError
        return None
    return text if _b64(text) == token else None


def to_global_id(type_name: str, pk: int) -> str:
    """Encode (type, primary key) as an opaque id."""
    return _b64(f"{type_name}:{pk}")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """Decode an opaque id; None unless it is exactly one Wren encodes."""
    text = _unb64(global_id)
    if text is None:
        return None
    type_name, _, raw = text.partition(":")
    # ASCII digits only (the text is ASCII), without a sign, spaces or a leading zero.
    if type_name not in NODE_TYPES or not raw.isdigit() or raw.startswith("0"):
        return None
    pk = int(raw)
    if pk >= 2**63:
        return None
    return type_name, pk


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key an id names when it is an id of `type_name`, else None."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def require_pk(global_id: str, type_name: str, **extensions: str) -> int:
    """The primary key an id of `type_name` names: BAD_USER_INPUT (with `extensions`) when
    it is not an id at all, NOT_FOUND when it is one of another type."""
    decoded = from_global_id(global_id)
    if decoded is None:
        raise BadUserInput("Malformed id.", **extensions)
    if decoded[0] != type_name:
        raise NotFound(f"No {type_name.lower()} has this id.", **extensions)
    return decoded[1]


class Keyset(NamedTuple):
    """A position in a list sorted by (timestamp, id)."""

    at: datetime
    id: int


def encode_cursor(at: datetime, pk: int) -> str:
    """An opaque cursor for the item sorted at (at, pk)."""
    micros = (at - _EPOCH) // _ONE_MICROSECOND
    return _b64(f"k:{micros}:{pk}")


def decode_cursor(cursor: str) -> Keyset:
    """The position a cursor names; BAD_USER_INPUT unless it is exactly one Wren encodes."""
    text = _unb64(cursor)
    try:
        if text is None:
            raise ValueError(cursor)
        tag, micros, pk = text.split(":")
        if tag != "k":
            raise ValueError(tag)
        key = Keyset(_EPOCH + timedelta(microseconds=int(micros)), int(pk))
    except (ValueError, OverflowError):
        raise BadUserInput("Malformed cursor.", argument="after") from None
    # Canonical: no sign, zero, space or underscore int() would have let through.
    if not 0 < key.id < 2**63 or encode_cursor(key.at, key.id) != cursor:
        raise BadUserInput("Malformed cursor.", argument="after")
    return key
