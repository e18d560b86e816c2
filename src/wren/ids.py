"""Opaque Relay global ids and keyset cursors."""

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


def _unb64(token: str) -> str:
    padded = token + "=" * (-len(token) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")


def to_global_id(type_name: str, pk: int) -> str:
    """Encode (type, primary key) as an opaque id."""
    return _b64(f"{type_name}:{pk}")


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """Decode an opaque id; None when it is not one of ours."""
    try:
        type_name, _, raw = _unb64(global_id).partition(":")
        pk = int(raw)
    except (ValueError, UnicodeError, binascii.Error):
        return None
    if type_name not in NODE_TYPES or not raw.isdigit() or pk <= 0 or pk >= 2**63:
        return None
    return type_name, pk


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key an id names when it is an id of `type_name`, else None."""
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] != type_name:
        return None
    return decoded[1]


def require_pk(global_id: str, type_name: str, **extensions: str) -> int:
    """The primary key an id of `type_name` names; NOT_FOUND (with `extensions`) otherwise."""
    pk = pk_of(global_id, type_name)
    if pk is None:
        raise NotFound(f"No {type_name.lower()} has this id.", **extensions)
    return pk


class Keyset(NamedTuple):
    """A position in a list sorted by (timestamp, id)."""

    at: datetime
    id: int


def encode_cursor(at: datetime, pk: int) -> str:
    """An opaque cursor for the item sorted at (at, pk)."""
    micros = (at - _EPOCH) // _ONE_MICROSECOND
    return _b64(f"k:{micros}:{pk}")


def decode_cursor(cursor: str) -> Keyset:
    """The position a cursor names; BAD_USER_INPUT when it is not a cursor of ours."""
    try:
        tag, micros, pk = _unb64(cursor).split(":")
        if tag != "k":
            raise ValueError(tag)
        at = _EPOCH + timedelta(microseconds=int(micros))
        key = Keyset(at, int(pk))
    except (ValueError, UnicodeError, binascii.Error, OverflowError):
        raise BadUserInput("Malformed cursor.", argument="after") from None
    if not 0 < key.id < 2**63:
        raise BadUserInput("Malformed cursor.", argument="after")
    return key
