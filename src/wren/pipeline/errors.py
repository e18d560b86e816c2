"""Errors of the pipeline: refusals before anything runs, and the masking of the unexpected."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError

from wren.errors import should_mask, with_code

if TYPE_CHECKING:
    from wren.errors import WrenError

log = logging.getLogger("wren.pipeline")

INTERNAL_MESSAGE = "Internal server error."


class RequestRefused(Exception):
    """The request is refused before any operation runs: an error code, and a status hint.

    A status of None refuses the document itself (unknown persisted query, say): HTTP
    answers 400 under application/graphql-response+json, 200 under application/json;
    WebSocket transports send an `error` message whatever the status.
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}
        self.extensions = {**(extensions or {}), "code": code}

    @classmethod
    def of(
        cls, status: int, error: WrenError, headers: dict[str, str] | None = None
    ) -> RequestRefused:
        """A domain error refusing the whole request, with its extensions."""
        return cls(status, error.message, error.code, headers, error.extensions)

    def error(self) -> GraphQLError:
        """The refusal as a GraphQL error."""
        return GraphQLError(self.message, extensions=dict(self.extensions))

    def formatted(self) -> dict[str, Any]:
        """The error as it appears in the response's `errors` list."""
        return {"message": self.message, "extensions": dict(self.extensions)}


def limit_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    """A GraphQL error for a request that exceeds one of the limits."""
    return GraphQLError(message, extensions={"code": code, **extensions})


def internal_error(request_id: str) -> dict[str, Any]:
    """The error every unexpected failure becomes: no detail, only the request id."""
    return {
        "message": INTERNAL_MESSAGE,
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }


def mask(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """Client-ready errors: domain codes kept, everything unexpected masked and logged once."""
    out: list[GraphQLError] = []
    for error in errors:
        if not should_mask(error):
            out.append(with_code(error))
            continue
        where = "" if error.path is None else " at " + ".".join(map(str, error.path))
        log.error(
            "request %s: unexpected error%s", request_id, where, exc_info=error.original_error
        )
        out.append(
            GraphQLError(
                INTERNAL_MESSAGE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
            )
        )
    return out
