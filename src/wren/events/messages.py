"""The messages of the events: ids only, subscribers load the rows (channels: cache/keys.py)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    """One message: the new row's id, and its author's (to filter without a query)."""

    id: int
    author_id: int

    def encode(self) -> bytes:
        """The message as published."""
        return orjson.dumps({"id": self.id, "authorId": self.author_id})

    @classmethod
    def decode(cls, raw: bytes) -> Event | None:
        """A message as received; None for anything that is not one of ours."""
        try:
            data = orjson.loads(raw)
            event = cls(int(data["id"]), int(data["authorId"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return event if event.id > 0 and event.author_id > 0 else None
