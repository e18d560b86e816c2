"""A schemathesis check for operations whose refusals are part of the API (loaded as hooks).

Schemathesis' own `not_a_server_error` counts every error of a resolver as a failure,
BAD_USER_INPUT for a random id included. Mutations on random ids are refused by design, so they
are held to this instead: no 5xx, and every error carries a client-facing code.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

SERVER_SIDE = {"INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE"}


@schemathesis.check
def errors_are_classified(ctx: Any, response: Any, case: Any) -> None:
    """No 5xx; every GraphQL error has an `extensions.code`, and not a server-side one."""
    if response.status_code >= 500:
        raise AssertionError(f"status {response.status_code}")
    body = json.loads(response.content)
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        if code is None or code in SERVER_SIDE:
            raise AssertionError(f"unclassified or server-side error: {error}")
