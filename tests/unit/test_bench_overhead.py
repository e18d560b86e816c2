"""bench/overhead.py's requests: one keep-alive POST, with Feed's viewer token when given."""

from __future__ import annotations

import json

from bench.overhead import request_bytes


def test_a_request_is_one_post_with_its_length() -> None:
    head, _, body = request_bytes(8100, {"query": "{ __typename }"}).partition(b"\r\n\r\n")
    assert head.startswith(b"POST /graphql HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head.split(b"\r\n")
    assert json.loads(body) == {"query": "{ __typename }"}
    assert b"authorization" not in head.lower()


def test_a_token_is_sent_as_a_bearer() -> None:
    head, _, _ = request_bytes(8100, {"query": "{ viewer { id } }"}, "abc").partition(b"\r\n\r\n")
    assert b"Authorization: Bearer abc" in head.split(b"\r\n")
