"""Errors of the HTTP layer: refusals with a status code, and the masking of the unexpected."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from wren.errors import should_mask, with_code

log = logging.getLogger("wren.http")

INTERNAL_MESSAGE = "Internal server error."


class RequestRefused(Exception):
    """The request is refused before any operation runs: an HTTP status and an error code.

    A status of None refuses the document itself (unknown persisted query, say): 400 under
    application/graphql-response+json, 200 under application/json.
    """

    def __init__(
        self, status: int | None, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}

    def formatted(self) -> dict[str, Any]:
        """The error as it appears in the response's `errors` list."""
        return {"message": self.message, "extensions": {"code": self.code}}


def limit_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    """A GraphQL error for a request that exceeds one of the limits."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def internal_error(request_id: str) -> dict[str, Any]:
    """The error every unexpected failure becomes: no detail, only the request id."""
    return {
        "message": INTERNAL_MESSAGE,
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }


def format_errors(errors: list[GraphQLError], request_id: str) -> list[dict[str, Any]]:
    """Client-ready errors: domain codes kept, everything unexpected masked and logged."""
    formatted: list[dict[str, Any]] = []
    for error in errors:
        if error.path is not None and should_mask(error):
            log.error(
                "request %s: unexpected error at %s",
                request_id,
                ".".join(map(str, error.path)),
                exc_info=error.original_error,
            )
            masked = internal_error(request_id)
            masked["path"] = error.path
            if error.locations:
                masked["locations"] = [loc.formatted for loc in error.locations]
            formatted.append(masked)
        else:
            formatted.append(dict(with_code(error).formatted))
    return formatted
