"""How cached values are serialized: compact orjson arrays, no field names.

A stats entry is ``[posts, comments, followers, following, likes received, comments
received]``; a recommendations entry is the list of recommended user ids, best first.
Changing either shape requires bumping keys.VERSION.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Any, Generic, Protocol, TypeVar

import orjson

from wren.db.loaders import UserStatsRow

T = TypeVar("T")


class Codec(Protocol, Generic[T]):
    """Turns one kind of value into bytes and back."""

    def encode(self, value: T) -> bytes:
        """The bytes stored in Redis."""

    def decode(self, raw: bytes) -> T:
        """The value read back."""


class StatsCodec:
    """UserStatsRow as a six-integer array."""

    def encode(self, value: UserStatsRow) -> bytes:
        """The six counts, in field order."""
        return orjson.dumps(astuple(value))

    def decode(self, raw: bytes) -> UserStatsRow:
        """A UserStatsRow from its six counts."""
        counts: list[int] = orjson.loads(raw)
        return UserStatsRow(*counts)


class IdsCodec:
    """A list of user ids."""

    def encode(self, value: list[int]) -> bytes:
        """The ids as a JSON array."""
        return orjson.dumps(value)

    def decode(self, raw: bytes) -> list[int]:
        """The ids back."""
        ids: Any = orjson.loads(raw)
        assert isinstance(ids, list)
        return ids
