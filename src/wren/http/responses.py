"""Responses: JSON encoded with orjson, in the media type the client negotiated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response

from wren.http.errors import format_errors
from wren.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON

if TYPE_CHECKING:
    from wren.http.execution import Outcome

# Requests refused as a whole for who sent them (a bad token, say), and their statuses.
AUTH_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}

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


def execution_body(
    outcome: Outcome, extensions: dict[str, Any], refused: int, request_id: str
) -> tuple[int, dict[str, Any]]:
    """Status and body of an executed operation.

    A request error (variables that do not coerce, credentials refused by an extension)
    means nothing ran: the body has no `data` entry and the status is that of a document
    error, or 401/403 when the request was refused for who sent it.
    """
    body: dict[str, Any] = {}
    errors = outcome.errors
    request_error = bool(errors) and (
        outcome.data is None and all(error.path is None for error in errors or ())
    )
    status = 200
    if errors:
        if request_error:
            for error in errors:
                error.extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
            codes = {str((error.extensions or {}).get("code")) for error in errors}
            status = AUTH_STATUS.get(codes.pop(), refused) if len(codes) == 1 else refused
        body["errors"] = format_errors(errors, request_id)
    if not request_error:
        body["data"] = outcome.data
    extensions = {**extensions, **outcome.extensions}
    if extensions:
        body["extensions"] = extensions
    return status, body
