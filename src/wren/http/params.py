"""GraphQL request parameters as HTTP frames them: a JSON body or a GET query string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wren.pipeline.params import Params, bad_request


def _json_map(raw: str | None, name: str) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise bad_request(f"`{name}` must be a JSON-encoded map.") from None
    if value is not None and not isinstance(value, dict):
        raise bad_request(f"`{name}` must be a JSON-encoded map.")
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
        raise bad_request("The request body is empty.")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise bad_request("The request body is not valid JSON.") from None
