"""Domain errors with their `extensions.code`, and the masking of everything else."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class WrenError(Exception):
    """An error the client is meant to see, with a machine-readable code."""

    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, Any] = {"code": self.code, **extensions}


class BadUserInput(WrenError):
    """The request's arguments are invalid."""

    code = "BAD_USER_INPUT"


class NotFound(WrenError):
    """An id names nothing that exists."""

    code = "NOT_FOUND"


class Unauthenticated(WrenError):
    """The operation needs a logged-in viewer, or the token is invalid."""

    code = "UNAUTHENTICATED"


class Forbidden(WrenError):
    """The viewer may not do this."""

    code = "FORBIDDEN"


class RateLimited(WrenError):
    """Too many tries, or too much cost: wait `retryAfter` seconds (HTTP: 429 with
    Retry-After). Both the log-in throttle and the cost rate limit refuse with it."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, retryAfter=retry_after)


class ServiceUnavailable(WrenError):
    """A dependency (the database pool) could not serve the request in time."""

    code = "SERVICE_UNAVAILABLE"


def should_mask(error: GraphQLError) -> bool:
    """Mask errors that are neither domain errors nor GraphQL's own (syntax, validation)."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return False
    return not isinstance(original, WrenError)


def with_code(error: GraphQLError) -> GraphQLError:
    """Copy a domain error's extensions onto the GraphQL error that carries it."""
    original = error.original_error
    if isinstance(original, WrenError):
        error.extensions = {**(error.extensions or {}), **original.extensions}
    return error
