"""The request body, read up to a size limit and within a time limit: bigger bodies are
refused before parsing, and a client trickling its body is cut off.

uvicorn bounds the time between requests on a connection (keep-alive) but not the time a
request's body may take to arrive: a client sending a byte a second would hold its
connection and its request for as long as it likes.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect

from wren.pipeline.errors import RequestRefused

if TYPE_CHECKING:
    from starlette.requests import Request

    from wren.pipeline.deadline import Deadline

JSON_MEDIA_TYPE = "application/json"


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(
        413, f"The request body is larger than {limit} bytes.", "PAYLOAD_TOO_LARGE"
    )


def check_content_type(content_type: str | None) -> None:
    """Only JSON bodies are read: text/plain, forms and multipart (all CSRF-able) get 415."""
    if content_type is None:
        raise RequestRefused(
            415, "Send the request with `Content-Type: application/json`.", "UNSUPPORTED_MEDIA_TYPE"
        )
    if not _is_json(content_type):
        raise RequestRefused(
            415,
            f"Unsupported content type {content_type!r}: send `application/json` (UTF-8).",
            "UNSUPPORTED_MEDIA_TYPE",
        )


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    """`application/json`, with no charset or UTF-8's (remembered: clients send few values)."""
    media, _, parameters = content_type.partition(";")
    charset_ok = all(
        name.strip().lower() != "charset" or value.strip().strip('"').lower() in {"utf-8", "utf8"}
        for name, _, value in (p.partition("=") for p in parameters.split(";"))
    )
    return media.strip().lower() == JSON_MEDIA_TYPE and charset_ok


async def read_body(request: Request, limit: int, within: Deadline) -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed `limit` bytes and
    with 408 when it has not all arrived `within` (seconds) after the headers.

    Read from the ASGI messages themselves, as Starlette's `Request.stream` reads them,
    without its asynchronous generator (and the event loop's hooks that each one runs).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    try:
        with within():
            while True:
                message = await receive()
                if message["type"] != "http.request":  # http.disconnect
                    raise ClientDisconnect
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise RequestRefused(
            408,
            f"The request body did not arrive within {within.seconds:g} s.",
            "REQUEST_TIMEOUT",
            {"connection": "close"},
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
