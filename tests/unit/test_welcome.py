"""The line `wren serve` ends its start with."""

from __future__ import annotations

import pytest

from wren.settings import Settings
from wren.welcome import welcome


@pytest.mark.parametrize(
    ("host", "shown"),
    [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("::1", "[::1]")],  # noqa: S104
)
def test_the_url_is_one_a_browser_on_this_machine_opens(host: str, shown: str) -> None:
    line = welcome(Settings(_env_file=None, database_url="postgresql://db/wren"), host, 8000)  # type: ignore[call-arg]
    assert line == f"GraphiQL: open http://{shown}:8000/graphql in a browser"


def test_the_embedded_demo_data_comes_with_its_log_in() -> None:
    line = welcome(Settings(_env_file=None), "127.0.0.1", 8001)  # type: ignore[call-arg]
    assert line.endswith("; log in as user1 with the password wren-demo-password")


def test_without_graphiql_it_names_the_endpoint() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://db/wren", graphiql=False)  # type: ignore[call-arg]
    assert welcome(settings, "127.0.0.1", 8000) == "serving http://127.0.0.1:8000/graphql"
