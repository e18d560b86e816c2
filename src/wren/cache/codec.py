"""How cached values are serialized: compact orjson arrays, no field names.

A stats entry is ``[posts, comments, followers, following, likes received, comments
received]``; a recommendations entry is ``[[id, ...], [[handle, display name, bio,
created at], ...]]``: the recommended user ids, best first, and the public columns of the
first five (loaders.PROFILED), so that a short list needs no statement at all. Users'
public columns change through no mutation; a user deleted outside the API stays listed
until the entry expires, like any change made outside the API.
Changing either shape requires bumping keys.VERSION.

`decode` raises ValueError for bytes that are not such a value: not JSON (a truncated or
overwritten entry), or JSON of another shape. The loader then treats the entry as a miss.
Only the shape is checked, not the type of every element: that is what is cheap to check
on the warm path (50 entries a page), and a value of the right shape is one Wren wrote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import orjson

from wren.db.loaders import Recommendations, UserStatsRow

T = TypeVar("T")

_STATS_FIELDS = len(UserStatsRow._fields)
# handle, display name, bio, created at
_PROFILE_COLUMNS = 4


class Codec(Protocol, Generic[T]):
    """Turns one kind of value into bytes and back."""

    def encode(self, value: T) -> bytes:
        """The bytes stored in Redis."""

    def decode(self, raw: bytes) -> T:
        """The value read back; ValueError when `raw` is not one."""


class StatsCodec:
    """UserStatsRow as a six-integer array."""

    def encode(self, value: UserStatsRow) -> bytes:
        """The six counts, in field order."""
        return orjson.dumps(list(value))

    def decode(self, raw: bytes) -> UserStatsRow:
        """A UserStatsRow from its six counts."""
        counts = orjson.loads(raw)  # orjson.JSONDecodeError is a ValueError
        if type(counts) is not list or len(counts) != _STATS_FIELDS:
            raise ValueError(f"not {_STATS_FIELDS} counts")
        return UserStatsRow(*counts)


class RecommendationsCodec:
    """Recommendations as two arrays: the ids, and the profiled users' columns."""

    def encode(self, value: Recommendations) -> bytes:
        """The ids, then handle, display name, bio and creation time per profiled user."""
        users = value.rows(len(value.users)) or []
        columns = [
            [row["handle"], row["display_name"], row["bio"], row["created_at"]] for row in users
        ]
        return orjson.dumps([value.ids, columns])

    def decode(self, raw: bytes) -> Recommendations:
        """Recommendations whose users become rows (dicts) only when shown."""
        value = orjson.loads(raw)
        if type(value) is not list or len(value) != 2:  # the ids, and the profiled users
            raise ValueError("not a pair of lists")
        ids, users = value
        if type(ids) is not list or type(users) is not list or len(users) > len(ids):
            raise ValueError("not a list of ids and a shorter list of users")
        if any(type(user) is not list or len(user) != _PROFILE_COLUMNS for user in users):
            raise ValueError(f"a profiled user is not {_PROFILE_COLUMNS} columns")
        return Recommendations(ids, users, _user_row)


def _user_row(pk: int, columns: list[Any]) -> dict[str, Any]:
    handle, display_name, bio, created_at = columns
    return {
        "id": pk,
        "handle": handle,
        "display_name": display_name,
        "bio": bio,
        "created_at": datetime.fromisoformat(created_at),
    }
