"""Cross-site request forgery: requests a browser sends cross-site unasked never mutate.

POST bodies must be `application/json`, which a cross-site form or `fetch` without a CORS
preflight cannot send (see body.check_content_type). GET never runs a mutation (see
view). With `csrf_require_preflight`, a GET must also carry a header that forces a preflight.
"""

from __future__ import annotations

from collections.abc import Mapping

from wren.pipeline.errors import RequestRefused

PREFLIGHT_HEADERS = ("apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight")


def check_preflight(headers: Mapping[str, str]) -> None:
    """Refuse a GET that a browser could have sent cross-site without a preflight."""
    if not any(headers.get(name) for name in PREFLIGHT_HEADERS):
        raise RequestRefused(
            400,
            "GET requests must carry an `Apollo-Require-Preflight` "
            "or `X-Apollo-Operation-Name` header.",
            "CSRF_PREFLIGHT_REQUIRED",
        )
