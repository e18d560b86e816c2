"""Responses: JSON encoded with orjson, in the media type the client negotiated."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from wren.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON

_CONTENT_TYPES = {
    JSON: f"{JSON}; charset=utf-8",
    GRAPHQL_RESPONSE_JSON: f"{GRAPHQL_RESPONSE_JSON}; charset=utf-8",
}


def json_response(
    body: Any, status: int, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """A GraphQL response body, encoded once, straight to bytes."""
    response = Response(orjson.dumps(body), status_code=status, headers=headers)
    response.headers["content-type"] = _CONTENT_TYPES[media_type]
    return response


def document_error_status(media_type: str) -> int:
    """Status of a request whose document could not run (parse, validation, variables).

    Under application/graphql-response+json that is 400; legacy application/json
    clients expect 200 with `errors`.
    """
    return 400 if media_type == GRAPHQL_RESPONSE_JSON else 200
