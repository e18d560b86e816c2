"""The GraphQL request parameters, read from a JSON body or a GET query string."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from wren.http.errors import RequestRefused


@dataclass(slots=True)
class Params:
    """One GraphQL request: document (or its hash in extensions), operation, variables."""

    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def _bad(message: str) -> RequestRefused:
    return RequestRefused(400, message, "BAD_REQUEST")


def from_mapping(data: Any) -> Params:
    """Parameters of a JSON request body; a malformed one is refused with 400."""
    if not isinstance(data, dict):
        raise _bad("The request body must be a JSON object.")
    query = data.get("query")
    if query is not None and not isinstance(query, str):
        raise _bad("`query` must be a string.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise _bad("`operationName` must be a string.")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise _bad("`variables` must be a map.")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise _bad("`extensions` must be a map.")
    return Params(query, operation_name, variables, extensions)


def _json_map(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad(f"`{name}` must be a JSON-encoded map.") from None
    if value is not None and not isinstance(value, dict):
        raise _bad(f"`{name}` must be a JSON-encoded map.")
    return value


def from_query_string(query_params: Mapping[str, str]) -> Params:
    """Parameters of a GET request (`variables` and `extensions` JSON-encoded)."""
    return Params(
        query=query_params.get("query") or None,
        operation_name=query_params.get("operationName") or None,
        variables=_json_map(query_params.get("variables"), "variables"),
        extensions=_json_map(query_params.get("extensions"), "extensions"),
    )


def decode_body(body: bytes) -> Any:
    """The decoded JSON body; anything else is refused with 400."""
    if not body:
        raise _bad("The request body is empty.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _bad("The request body is not valid JSON.") from None
