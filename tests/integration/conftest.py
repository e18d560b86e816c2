"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

from tests.integration import world
from tests.sessions import session_token
from wren.app import Resources
from wren.cache import invalidation
from wren.db.engine import Database, create_engine
from wren.settings import Settings


@asynccontextmanager
async def database(
    settings: Settings, url: str | None = None, **overrides: Any
) -> AsyncIterator[Database]:
    """A Database on an engine of its own (at `url`, with these settings changed), closed
    and disposed after."""
    engine = create_engine(settings.model_copy(update=overrides), url)
    db = Database(engine)
    try:
        yield db
    finally:
        await db.aclose()
        await engine.dispose()


@pytest.fixture
async def small_world(database_url: str) -> None:
    """The hand-made world of tests/integration/world.py, in the database."""
    await world.build(database_url)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, to set up and check rows behind the API."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def bearer(settings: Settings, resources: Resources) -> Callable[[int], dict[str, str]]:
    """Request headers logging in as the user with this id (one session per user a test)."""
    opened: dict[int, str] = {}

    def headers(user_id: int) -> dict[str, str]:
        if user_id not in opened:
            opened[user_id] = session_token(settings, user_id, accounts=resources.accounts)
        return {"authorization": f"Bearer {opened[user_id]}"}

    return headers


@pytest.fixture
def as_user(bearer: Callable[[int], dict[str, str]]) -> Callable[[str], dict[str, str]]:
    """Request headers logging in as a user of the small world, by handle."""
    return lambda handle: bearer(world.USERS[handle])


class Invalidations:
    """What the mutations told the cache, in order."""

    def __init__(self) -> None:
        self.activity: list[set[int]] = []
        self.follows: list[tuple[int, int]] = []


@pytest.fixture
def invalidations(monkeypatch: pytest.MonkeyPatch) -> Invalidations:
    """Record the cache invalidations (and still run them)."""
    seen = Invalidations()
    activity_changed = invalidation.activity_changed
    follows_changed = invalidation.follows_changed

    async def record_activity(context: Any, user_ids: Any) -> None:
        ids = set(user_ids)
        seen.activity.append(ids)
        await activity_changed(context, ids)

    async def record_follow(context: Any, follower_id: int, followee_id: int) -> None:
        seen.follows.append((follower_id, followee_id))
        await follows_changed(context, follower_id, followee_id)

    monkeypatch.setattr(invalidation, "activity_changed", record_activity)
    monkeypatch.setattr(invalidation, "follows_changed", record_follow)
    return seen
