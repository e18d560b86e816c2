"""Driver options in WREN_DATABASE_URL reach asyncpg typed: the app serves with them."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import gql, operation
from tests.integration.cache_support import http, resources_of, running
from tests.integration.world import uid
from wren.errors import ServiceUnavailable
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

NAMED_STATEMENTS = text("SELECT count(*) AS n FROM pg_prepared_statements")


def with_url(settings: Settings, query: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        **{**settings.model_dump(), "database_url": f"{settings.database_url}?{query}"},
    )


async def test_statement_cache_options_in_the_url_are_applied(settings: Settings) -> None:
    # Passed through as strings, these failed every connection with a TypeError.
    changed = with_url(settings, "statement_cache_size=0&prepared_statement_cache_size=0")
    async with running(changed) as application, http(application) as client:
        read = await gql(client, operation("UserByHandle"), {"handle": "carol"})
        wrote = await gql(
            client,
            'mutation { signUp(input: {handle: "urlopt", displayName: "U", password: "pw-urlopt"})'
            " { user { handle } } }",
        )
        db = resources_of(application).db
        named = (await db.fetch(NAMED_STATEMENTS))[0]["n"]
    assert read == {
        "data": {"userByHandle": {"id": uid("carol"), "handle": "carol", "displayName": "Carol"}}
    }
    assert wrote == {"data": {"signUp": {"user": {"handle": "urlopt"}}}}
    assert named == 0


async def test_command_timeout_in_the_url_is_applied(settings: Settings) -> None:
    changed = with_url(settings, "command_timeout=0.2")
    async with running(changed) as application:
        db = resources_of(application).db
        assert (await db.fetch(text("SELECT 1 AS one")))[0]["one"] == 1
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as raised:
            await db.fetch(text("SELECT pg_sleep(3)"))
        assert time.monotonic() - started < 2
    # asyncpg's own timeout, from the option as a number of seconds.
    assert isinstance(raised.value.__cause__, TimeoutError)


async def test_the_app_keeps_named_statements_without_a_pooler(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    # What the statement cache options turn off: asyncpg's named statements, kept per
    # connection (one connection here, so every read below ran on it).
    changed = Settings(_env_file=None, **{**settings.model_dump(), "pool_size": 1})  # type: ignore[call-arg]
    async with running(changed) as application, http(application) as own:
        await gql(own, operation("UserByHandle"), {"handle": "carol"})
        named = (await resources_of(application).db.fetch(NAMED_STATEMENTS))[0]["n"]
    assert named >= 1
