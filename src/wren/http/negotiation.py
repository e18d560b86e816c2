"""Content negotiation: which of the two GraphQL response media types a client accepts."""

from __future__ import annotations

from functools import lru_cache

JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"

_CANDIDATES = {
    GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON,
    JSON: JSON,
    "application/*": JSON,
    "*/*": JSON,
}


@lru_cache(maxsize=256)
def negotiate(accept: str | None) -> str | None:
    """The response media type for an Accept header; None when nothing acceptable is offered."""
    if not accept:
        return JSON
    best: str | None = None
    best_q = 0.0
    for part in accept.split(","):
        media, _, parameters = part.partition(";")
        candidate = _CANDIDATES.get(media.strip().lower())
        if candidate is None:
            continue
        q = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best, best_q = candidate, q
    return best


def accepts_html(accept: str | None) -> bool:
    """True for a browser navigating to the endpoint."""
    return accept is not None and "text/html" in accept
