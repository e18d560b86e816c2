"""Event messages: ids only, anything else ignored."""

from __future__ import annotations

import pytest

from wren.events.messages import Event


def test_events_round_trip() -> None:
    event = Event(12, 3)
    assert event.encode() == b'{"id":12,"authorId":3}'
    assert Event.decode(event.encode()) == event


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"12",
        b"null",
        b"[]",
        b'{"id": 1}',
        b'{"id": "x", "authorId": 1}',
        b'{"id": 0, "authorId": 1}',
    ],
)
def test_anything_else_is_ignored(raw: bytes) -> None:
    assert Event.decode(raw) is None
