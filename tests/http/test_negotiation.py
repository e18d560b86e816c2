"""Content negotiation."""

from __future__ import annotations

import pytest

from wren.http.negotiation import GRAPHQL_RESPONSE_JSON, JSON, accepts_html, negotiate


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json, application/json;q=0.9", GRAPHQL_RESPONSE_JSON),
        ("application/json;q=0.5, application/graphql-response+json", GRAPHQL_RESPONSE_JSON),
        ("application/graphql-response+json;q=0.2, application/json", JSON),
        ("text/html, */*;q=0.8", JSON),
        ("application/json;q=0", None),
        ("text/csv", None),
    ],
)
def test_negotiate(accept: str | None, media: str | None) -> None:
    assert negotiate(accept) == media


def test_browsers_are_recognised() -> None:
    assert accepts_html("text/html,application/xhtml+xml,*/*;q=0.8")
    assert not accepts_html("application/json")
    assert not accepts_html(None)
