"""Reading GraphQL error responses in tests."""

from __future__ import annotations

from typing import Any


def codes(body: dict[str, Any]) -> list[str | None]:
    """The extensions.code of each error of a response."""
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The extensions of the response's single error."""
    errors = body.get("errors", [])
    assert len(errors) == 1, body
    extensions: dict[str, Any] = errors[0]["extensions"]
    return extensions
