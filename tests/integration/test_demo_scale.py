"""At demo scale (10,000 seeded users): constant statement counts and index-only access paths."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import REDIS_URL, drop_keys, gql, operation, throwaway_database
from tests.sessions import session_token
from wren.app import Resources, create_app
from wren.db.engine import create_engine
from wren.db.seed import seed
from wren.settings import Settings

DEMO_USERS = 10_000
# Tables no contract operation may read with a sequential scan.
BIG_TABLES = {"posts", "comments", "follows", "likes"}
READS = {
    "Timeline": {"first": 20},
    "Directory": {"first": 50},
    "UserByHandle": {"handle": "user42"},
    "Profile": {"handle": "user1"},
    "Leaderboard": {"first": 50},
}


@pytest.fixture(scope="module")
def demo_url() -> Iterator[str]:
    with throwaway_database("wren_demo") as url:
        yield url


@pytest.fixture(scope="module")
async def demo_app(demo_url: str, settings: Settings) -> AsyncIterator[FastAPI]:
    # Cache keys of its own: user ids here name other users than in the small world.
    namespace = f"{settings.cache_namespace}-demo"
    demo = settings.model_copy(update={"database_url": demo_url, "cache_namespace": namespace})
    engine = create_engine(demo)
    try:
        await seed(engine, DEMO_USERS)
    finally:
        await engine.dispose()
    application = create_app(demo)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        await drop_keys(REDIS_URL, namespace)


class Captured:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


@pytest.fixture
def captured(demo_app: FastAPI) -> Iterator[Captured]:
    resources: Resources = demo_app.state.resources
    log = Captured()

    def record(statement: str, parameters: Sequence[Any]) -> None:
        log.calls.append((statement, tuple(parameters)))

    with resources.db.watching(record):
        yield log


async def run(app: FastAPI, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client:
        body = await gql(client, operation(name), variables)
    assert "errors" not in body, body
    return body


def seq_scans(plan: dict[str, Any]) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and plan.get("Relation Name") in BIG_TABLES:
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += seq_scans(child)
    return found


@pytest.mark.parametrize("name", sorted(READS))
async def test_no_sequential_scan_of_big_tables(
    demo_app: FastAPI, demo_url: str, captured: Captured, name: str
) -> None:
    await run(demo_app, name, READS[name])
    assert captured.calls
    conn = await asyncpg.connect(demo_url.replace("+asyncpg", ""))
    try:
        for statement, parameters in captured.calls:
            plan = json.loads(
                await conn.fetchval(f"EXPLAIN (FORMAT JSON) {statement}", *parameters)
            )
            assert seq_scans(plan[0]["Plan"]) == [], statement
    finally:
        await conn.close()


async def test_directory_costs_the_same_for_5_and_50_users(
    demo_app: FastAPI, captured: Captured, settings: Settings
) -> None:
    five = await run(demo_app, "Directory", {"first": 5})
    statements_for_5 = len(captured.calls)
    captured.calls.clear()
    fifty = await run(demo_app, "Directory", {"first": 50})
    assert len(fifty["data"]["users"]["nodes"]) == 50
    assert five["data"]["users"]["nodes"] == fifty["data"]["users"]["nodes"][:5]
    # The fast path renders the whole tree in the users' statement (db/rendered.py).
    assert statements_for_5 == len(captured.calls) == (1 if settings.compiled_queries else 3)


async def test_a_deep_page_uses_the_same_statement(
    demo_app: FastAPI, captured: Captured, settings: Settings
) -> None:
    first = await run(demo_app, "Timeline", {"first": 20})
    cursor = first["data"]["posts"]["pageInfo"]["endCursor"]
    for _ in range(3):
        page = await run(demo_app, "Timeline", {"first": 20, "after": cursor})
        cursor = page["data"]["posts"]["pageInfo"]["endCursor"]
    texts = [statement for statement, _ in captured.calls]
    # The fast path renders a page in one statement (test_read_operations).
    per_page = 1 if settings.compiled_queries else 4
    assert len(texts) == 4 * per_page
    # Page 4 sends the very statements page 1 sent (authors come joined to their items).
    assert len(set(texts)) == per_page


async def test_feed_of_someone_following_1000_people(
    demo_app: FastAPI, demo_url: str, captured: Captured, settings: Settings
) -> None:
    # user9999 follows 1,000 more people: their ~10,000 posts make the feed.
    viewer = 9_999
    conn = await asyncpg.connect(demo_url.replace("+asyncpg", ""))
    try:
        await conn.execute(
            "INSERT INTO follows (follower_id, followee_id)"
            " SELECT $1, id FROM users WHERE id % 10 = 7 AND id <> $1 ON CONFLICT DO NOTHING",
            viewer,
        )
        await conn.execute("VACUUM ANALYZE follows")
        followed = await conn.fetchval(
            "SELECT count(*) FROM follows WHERE follower_id = $1", viewer
        )
        assert followed >= 1_000
        transport = httpx.ASGITransport(app=demo_app)
        demo = settings.model_copy(update={"database_url": demo_url})
        accounts = demo_app.state.resources.accounts  # told of the session, as at a log-in
        headers = {"authorization": f"Bearer {session_token(demo, viewer, accounts=accounts)}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as client:
            body = await gql(client, operation("Feed"), {"first": 20}, **headers)
        assert "errors" not in body, body
        assert len(body["data"]["feed"]["nodes"]) == 20
        # viewer + feed page with authors; like counts + viewer's likes
        assert len(captured.calls) == 4
        feed = next(c for c in captured.calls if "follows f" in c[0])
        plan = json.loads(
            await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {feed[0]}", *feed[1])
        )[0]["Plan"]
    finally:
        await conn.close()
    assert seq_scans(plan) == []
    # Posts come from the table only for the page (and its one look-ahead row); every
    # other post of the 1,000 followees is only seen in posts_author_created_idx.
    assert posts_read_from_table(plan) == 21


def posts_read_from_table(plan: dict[str, Any]) -> int:
    rows = 0
    if plan.get("Relation Name") == "posts" and plan["Node Type"] != "Index Only Scan":
        rows += plan["Actual Rows"] * plan["Actual Loops"]
    for child in plan.get("Plans", []):
        rows += posts_read_from_table(child)
    return rows
