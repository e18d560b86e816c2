"""The messages of the events: ids only, subscribers load the rows (channels: cache/keys.py)."""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    """One message: the new row's id, and its author's (to filter without a query), and
    the primary's WAL position after the commit (0: unknown), that a replica must have
    replayed to load the row."""

    id: int
    author_id: int
    position: int = 0

    def encode(self) -> bytes:
        """The message as published."""
        message: dict[str, int] = {"id": self.id, "authorId": self.author_id}
        if self.position:
            message["lsn"] = self.position
        return orjson.dumps(message)

    @classmethod
    def decode(cls, raw: bytes) -> Event | None:
        """A message as received; None for anything that is not one of ours."""
        try:
            data = orjson.loads(raw)
            event = cls(int(data["id"]), int(data["authorId"]), int(data.get("lsn", 0)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            return None
        valid = event.id > 0 and event.author_id > 0 and event.position >= 0
        return event if valid else None
