"""IndexedHeaders answers every lookup as Starlette's Headers does."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers

from wren.http.request import IndexedHeaders

RAW = [
    (b"content-type", b"application/json"),
    (b"x-repeated", b"first"),
    (b"x-repeated", b"second"),
    (b"authorization", b"Bearer \xe9"),
]


@pytest.mark.parametrize("key", ["content-type", "Content-Type", "X-REPEATED", "authorization"])
def test_lookups_agree_with_starlettes(key: str) -> None:
    scope = {"type": "http", "headers": RAW}
    ours, theirs = IndexedHeaders(scope), Headers(scope=scope)
    assert ours[key] == theirs[key]
    assert ours.get(key) == theirs.get(key)
    assert key in ours


def test_a_repeated_header_gives_its_first_value_and_keeps_all() -> None:
    headers = IndexedHeaders({"type": "http", "headers": RAW})
    assert headers["x-repeated"] == "first"
    assert headers.getlist("x-repeated") == ["first", "second"]
    assert headers["authorization"] == "Bearer \xe9"


def test_a_missing_header() -> None:
    headers = IndexedHeaders({"type": "http", "headers": RAW})
    assert headers.get("accept") is None
    assert headers.get("accept", "*/*") == "*/*"
    assert "accept" not in headers
    with pytest.raises(KeyError):
        headers["accept"]


def test_the_whole_list_as_starlettes() -> None:
    scope = {"type": "http", "headers": RAW}
    ours, theirs = IndexedHeaders(scope), Headers(scope=scope)
    assert ours.raw == theirs.raw
    assert ours.items() == theirs.items()
    assert ours.keys() == theirs.keys()
    assert 1 not in ours
