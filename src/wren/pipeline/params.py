"""The GraphQL request parameters every transport hands the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wren.pipeline.errors import RequestRefused


@dataclass(slots=True)
class Params:
    """One GraphQL request: document (or its hash in extensions), operation, variables."""

    query: str | None
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None


def bad_request(message: str) -> RequestRefused:
    """A request whose parameters are malformed: 400."""
    return RequestRefused(400, message, "BAD_REQUEST")


def from_mapping(data: Any) -> Params:
    """Parameters of a JSON request body or a WebSocket payload; malformed ones are refused."""
    if not isinstance(data, dict):
        raise bad_request("The request body must be a JSON object.")
    query = data.get("query")
    if query is not None and not isinstance(query, str):
        raise bad_request("`query` must be a string.")
    operation_name = data.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise bad_request("`operationName` must be a string.")
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise bad_request("`variables` must be a map.")
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise bad_request("`extensions` must be a map.")
    return Params(query, operation_name, variables, extensions)
