"""Responses: JSON encoded with orjson, in the media type the client negotiated, and the
statuses HTTP gives the pipeline's results."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from wren.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON
from wren.pipeline import Stage

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from wren.pipeline import Result
    from wren.pipeline.cache_control import CachePolicy

# Requests refused as a whole for who sent them (a bad token, say), and their statuses.
AUTH_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}

_CONTENT_TYPES = {
    JSON: f"{JSON}; charset=utf-8",
    GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8",
}


# Statuses whose responses have no body, hence no Content-Length (RFC 9110, 8.6).
_NO_BODY = frozenset({204, 304})


@dataclass(slots=True)
class Response:
    """A response of the /graphql endpoint: a status, headers (lower-case names, one value
    each) and the encoded body, sent as one `http.response.start` and one body message.

    Starlette's Response keeps its headers as a list of encoded pairs, scanned on every
    header the endpoint adds; this one keeps a dict and encodes it once, when sent.
    """

    body: bytes = b""
    status_code: int = 200
    headers: dict[str, str] = field(default_factory=dict)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the response (an ASGI app, as Starlette's responses are)."""
        await send(self.start())
        await send({"type": "http.response.body", "body": self.body})

    def start(self) -> Message:
        """The `http.response.start` message (the body follows in one message)."""
        raw = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in self.headers.items()
        ]
        status = self.status_code
        if status >= 200 and status not in _NO_BODY:
            raw.append((b"content-length", b"%d" % len(self.body)))
        return {"type": "http.response.start", "status": status, "headers": raw}


# Seconds a client is asked to wait after a 503: pool waits and reconnections are short.
RETRY_AFTER = "2"


def _retry_after(body: Any) -> str:
    """The longest `retryAfter` of a rate-limited body's errors (seconds)."""
    waits = [
        error.get("extensions", {}).get("retryAfter", 1)
        for error in (body.get("errors") or [] if isinstance(body, dict) else [])
    ]
    return str(max([1, *(w for w in waits if isinstance(w, int))]))


def json_response(
    body: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """A GraphQL response body, encoded once, straight to bytes (503s and 429s say when to
    retry)."""
    sent = {"content-type": _CONTENT_TYPES[media_type]}
    if status == 503:
        sent["retry-after"] = RETRY_AFTER
    elif status == 429:
        sent["retry-after"] = _retry_after(body)
    if headers:
        sent.update(headers)
    return Response(orjson.dumps(body), status, sent)


def get_response(
    body: Any,
    status: int,
    media_type: str,
    policy: CachePolicy | None,
    if_none_match: str | None,
) -> Response:
    """A GET response with its cache headers: Cache-Control from the operation's policy,
    an ETag over the encoded body, and 304 when the client already holds that body.

    Only a successful answer without errors is cacheable; everything else is `no-store`.
    The body depends on the negotiated media type (Vary: Accept) and, for private
    answers, on who asks (Vary: Authorization).
    """
    cacheable = policy is not None and status == 200 and "errors" not in body
    header = policy.header() if policy is not None and cacheable else "no-store"
    vary = "Accept, Authorization" if policy is not None and policy.private else "Accept"
    if header == "no-store":
        response = json_response(body, status, media_type)
        response.headers["cache-control"] = header
        response.headers["vary"] = vary
        return response
    encoded = orjson.dumps(body)
    digest = hashlib.blake2b(encoded, digest_size=16)
    digest.update(media_type.encode())
    etag = f'"{digest.hexdigest()}"'
    headers = {"cache-control": header, "vary": vary, "etag": etag}
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(b"", 304, headers)
    headers["content-type"] = _CONTENT_TYPES[media_type]
    return Response(encoded, status, headers)


def _matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110, 13.1.2): any listed tag, or `*`."""
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def document_error_status(media_type: str) -> int:
    """Status of a request whose document could not run (parse, validation, variables).

    Under application/graphql-response+json that is 400; legacy application/json
    clients expect 200 with `errors`.
    """
    return 400 if media_type == GRAPHQL_RESPONSE_JSON else 200


def _unavailable_as_a_whole(result: Result) -> bool:
    """Every error is SERVICE_UNAVAILABLE and no root field has a value."""
    if not result.errors:
        return False
    if any((e.extensions or {}).get("code") != "SERVICE_UNAVAILABLE" for e in result.errors):
        return False
    return result.data is None or all(value is None for value in result.data.values())


def _rate_limited(result: Result) -> bool:
    """Every error is RATE_LIMITED and no root field has a value (a refused log-in)."""
    if not result.errors:
        return False
    if any((e.extensions or {}).get("code") != "RATE_LIMITED" for e in result.errors):
        return False
    return result.data is None or all(value is None for value in result.data.values())


def result_body(result: Result, media_type: str) -> tuple[int, dict[str, Any]]:
    """Status and body of one operation's result.

    A result refused before it ran has no `data` entry; its status is that of a document
    error, or 401/403 when the request was refused for who sent it.
    """
    body: dict[str, Any] = {}
    stage = result.stage
    status = 200
    if stage is Stage.DOCUMENT:
        status = document_error_status(media_type)
    elif stage is Stage.REQUEST:
        for error in result.errors:
            error.extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
        codes = {str((error.extensions or {}).get("code")) for error in result.errors}
        refused = document_error_status(media_type)
        status = AUTH_STATUS.get(codes.pop(), refused) if len(codes) == 1 else refused
    elif stage is Stage.DEADLINE:
        status = 504
    elif _rate_limited(result):
        # Under either media type: the request itself is refused for now, as HTTP says.
        status = 429
    elif media_type == GRAPHQL_RESPONSE_JSON and _unavailable_as_a_whole(result):
        # Nothing to show and nothing wrong with the request: tell load balancers and
        # clients to come back (legacy application/json clients keep 200, as the
        # GraphQL-over-HTTP specification says).
        status = 503
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if stage is Stage.EXECUTED:
        body["data"] = result.data
    if result.extensions:
        body["extensions"] = result.extensions
    return status, body
