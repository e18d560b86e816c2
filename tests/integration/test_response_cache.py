"""The response cache: stored answers run no SQL, and every kind of write shows on the next
read through another process (two app instances on one PostgreSQL and one Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import free_port, operation
from tests.integration.cache_support import http, resources_of, running, statements
from tests.integration.world import cid, pid, post_cursor, uid
from wren.cache.keys import SLOT_GROUPS
from wren.cache.responses import digest
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

Headers = Callable[[str], dict[str, str]]
TIMELINE = operation("Timeline")
# Statements of one Timeline execution: posts, like counts, comments, comment totals (the
# fast path counts the comments in their pages' statement: test_read_operations).
TIMELINE_STATEMENTS = 1 if Settings(_env_file=None).compiled_queries else 4  # type: ignore[call-arg]
DIRECTORY = operation("Directory")
PROFILE = operation("Profile")
LEADERBOARD = operation("Leaderboard")
POST = "query($id: ID!) { post(id: $id) { id title likeCount comments(first: 5) { totalCount } } }"
NODE = "query($id: ID!) { node(id: $id) { id ... on Comment { body } } }"
BY_HANDLE = "query($handle: String!) { userByHandle(handle: $handle) { handle } }"
VIEWER = "{ viewer { handle } }"


def enabled(settings: Settings, **more: Any) -> Settings:
    """The test settings with the response cache on."""
    update = {"response_cache": True, "response_cache_private": True, "pool_size": 5, **more}
    return settings.model_copy(update=update)


@pytest.fixture(scope="module")
async def writer_app(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    async with running(enabled(settings)) as application:
        yield application


@pytest.fixture(scope="module")
async def reader_app(settings: Settings, app: FastAPI) -> AsyncIterator[FastAPI]:
    async with running(enabled(settings)) as application:
        yield application


@pytest.fixture(autouse=True)
async def _empty(reader_app: FastAPI) -> None:
    """No answer stored by an earlier test (the tables were emptied and built again)."""
    assert await resources_of(reader_app).cache.bump_epoch()


@pytest.fixture
async def writer(writer_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http(writer_app) as client:
        yield client


@pytest.fixture
async def reader(reader_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with http(reader_app) as client:
        yield client


async def ask(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[dict[str, Any], bool | None]:
    """(the answer's body less extensions, whether it was a stored one)."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    extensions = body.pop("extensions")
    return body, extensions.get("responseCache", {}).get("hit")


async def data(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    body, _ = await ask(client, query, variables)
    assert "errors" not in body, body
    return body["data"]


async def mutate(
    client: httpx.AsyncClient, headers: dict[str, str], query: str, **variables: Any
) -> Any:
    body, hit = await ask(client, query, variables, headers)
    assert "errors" not in body, body
    assert hit is None  # mutations are never looked up
    return body["data"]


async def stored(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    """Ask twice: computed, then stored (the second time runs no SQL)."""
    first, hit = await ask(client, query, variables)
    assert hit is False, first
    second, hit = await ask(client, query, variables)
    assert hit is True
    assert second == first
    return first["data"]


async def fresh(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    """The next answer is computed again (a write invalidated it)."""
    body, hit = await ask(client, query, variables)
    assert hit is False, body
    assert "errors" not in body, body
    return body["data"]


def titles(timeline: dict[str, Any]) -> list[str]:
    return [edge["node"]["title"] for edge in timeline["posts"]["edges"]]


async def test_a_stored_answer_runs_no_sql(reader: httpx.AsyncClient, reader_app: FastAPI) -> None:
    with statements(reader_app) as sent:
        first, hit = await ask(reader, TIMELINE, {"first": 3})
    assert hit is False
    assert len(sent) == TIMELINE_STATEMENTS
    with statements(reader_app) as sent:
        second, hit = await ask(reader, TIMELINE, {"first": 3})
    assert hit is True
    assert sent == []
    assert second == first
    # Other variables are another answer.
    with statements(reader_app) as sent:
        _, hit = await ask(reader, TIMELINE, {"first": 2})
    assert hit is False
    assert len(sent) == TIMELINE_STATEMENTS
    counts = resources_of(reader_app).responses
    assert counts is not None
    assert (counts.counts.hits, counts.counts.misses) == (1, 2)


async def test_get_requests_share_the_stored_answer_and_keep_http_caching(
    reader: httpx.AsyncClient, reader_app: FastAPI
) -> None:
    await stored(reader, BY_HANDLE, handle="alice")
    with statements(reader_app) as sent:
        response = await reader.get(
            "/graphql",
            params={"query": BY_HANDLE, "variables": '{"handle": "alice"}'},
            headers={"accept": "application/graphql-response+json"},
        )
    assert sent == []
    assert response.json()["extensions"]["responseCache"] == {"hit": True}
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "etag" in response.headers


async def stored_ttl(app: FastAPI, text: str, name: str | None, **variables: Any) -> int:
    """The remaining lifetime (ms) of one stored answer, under the current epoch."""
    resources = resources_of(app)
    keys, redis = resources.cache.keys, resources.redis
    found = digest(text, name, variables, None)
    group = int(found[:4], 16) % SLOT_GROUPS
    epoch = (await redis.get(keys.epoch(group))).decode()
    ttl: int = await redis.pttl(f"{keys.responses_prefix(group)}{epoch}:{found}")
    return ttl


async def test_answers_live_for_their_max_age_at_most_the_cap(
    settings: Settings, reader: httpx.AsyncClient, reader_app: FastAPI
) -> None:
    await stored(reader, TIMELINE, first=1)  # max-age 10
    assert 0 < await stored_ttl(reader_app, TIMELINE, "Timeline", first=1) <= 10_000
    async with (
        running(enabled(settings, response_cache_max_ttl=3)) as capped,
        http(capped) as client,
    ):
        assert await resources_of(capped).cache.bump_epoch()
        await stored(client, BY_HANDLE, handle="alice")  # max-age 60
        assert 0 < await stored_ttl(capped, BY_HANDLE, None, handle="alice") <= 3_000


async def test_uncacheable_and_failed_answers_are_not_stored(reader: httpx.AsyncClient) -> None:
    # max-age 0 (the rate limit is the request's own): never looked up.
    body, hit = await ask(reader, "{ rateLimit { limit } }")
    assert hit is None
    # An answer with errors is computed every time.
    for _ in range(2):
        body, hit = await ask(reader, "{ feed(first: 1) { nodes { id } } }")  # no viewer
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert hit is False


async def test_private_answers_are_per_viewer(reader: httpx.AsyncClient, as_user: Headers) -> None:
    for handle in ("alice", "bob"):
        body, hit = await ask(reader, VIEWER, headers=as_user(handle))
        assert (body["data"]["viewer"]["handle"], hit) == (handle, False)
    body, hit = await ask(reader, VIEWER, headers=as_user("alice"))
    assert (body["data"]["viewer"]["handle"], hit) == ("alice", True)
    body, hit = await ask(reader, VIEWER)
    assert (body["data"]["viewer"], hit) == (None, False)


async def test_private_answers_are_not_stored_unless_enabled(
    settings: Settings, as_user: Headers
) -> None:
    public_only = enabled(settings, response_cache_private=False)
    async with running(public_only) as application, http(application) as client:
        for _ in range(2):
            body, hit = await ask(client, VIEWER, headers=as_user("alice"))
            assert body["data"]["viewer"]["handle"] == "alice"
            assert hit is None


async def test_concurrent_misses_execute_once(
    reader: httpx.AsyncClient, reader_app: FastAPI
) -> None:
    with statements(reader_app) as sent:
        answers = await asyncio.gather(*(ask(reader, TIMELINE, {"first": 5}) for _ in range(8)))
    assert len(sent) == TIMELINE_STATEMENTS  # one execution
    assert len({str(body) for body, _ in answers}) == 1
    # Each of the others either joined the execution or found its stored answer.
    assert [hit for _, hit in answers].count(True) == 7


async def test_misses_waiting_on_one_execution_share_it(reader_app: FastAPI) -> None:
    responses = resources_of(reader_app).responses
    assert responses is not None
    misses, shared = responses.counts.misses, responses.counts.shared
    release = asyncio.Event()
    runs = 0

    async def compute() -> tuple[bytes, list[str]]:
        nonlocal runs
        runs += 1
        await release.wait()
        return b'{"answer":1}', ["Post:1"]

    async def released_once_all_missed() -> None:
        # The lookups' Redis replies signal nothing of their own: their count is polled.
        while responses.counts.misses - misses < 8:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        release.set()

    name = "ab" * 16
    results, _ = await asyncio.gather(
        asyncio.gather(*(responses.answer(name, 10, compute) for _ in range(8))),
        released_once_all_missed(),
    )
    assert runs == 1
    assert sorted(results) == [(b'{"answer":1}', False)] + [(b'{"answer":1}', True)] * 7
    assert responses.counts.shared - shared == 7
    assert await responses.answer(name, 10, compute) == (b'{"answer":1}', True)
    assert runs == 1


async def test_redis_down_still_serves(settings: Settings) -> None:
    down = enabled(
        settings,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        redis_timeout=0.2,
        cache_breaker_failures=1,
    )
    async with running(down) as application, http(application) as client:
        for _ in range(3):
            body, hit = await ask(client, TIMELINE, {"first": 2})
            assert titles(body["data"]) == ["A3", "C1"]
            assert hit is False
        responses = resources_of(application).responses
        assert responses is not None
        assert responses.counts.errors == 3


# -- every kind of write, through one process, shows on the next read through the other


async def test_create_post(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    assert titles(await stored(reader, TIMELINE, first=2)) == ["A3", "C1"]
    later = await stored(reader, TIMELINE, first=2, after=post_cursor(4))
    directory = await stored(reader, DIRECTORY, first=1)
    profile = await stored(reader, PROFILE, handle="dave")
    untouched = await stored(reader, operation("UserByHandle"), handle="bob")
    await mutate(
        writer,
        as_user("dave"),
        'mutation { createPost(input: {title: "D1", body: "hi"}) { id } }',
    )
    assert titles(await fresh(reader, TIMELINE, first=2)) == ["D1", "A3"]
    # A later page is computed again too (its membership did not change).
    assert titles(await fresh(reader, TIMELINE, first=2, after=post_cursor(4))) == titles(later)
    assert titles(later) == ["A2", "B1"]
    assert await fresh(reader, DIRECTORY, first=1) == directory  # alice's posts: unchanged
    profile_now = await fresh(reader, PROFILE, handle="dave")
    assert profile_now["userByHandle"]["stats"]["postCount"] == (
        profile["userByHandle"]["stats"]["postCount"] + 1
    )
    # bob, named by his id, is not what the post changed.
    assert await stored_again(reader, operation("UserByHandle"), handle="bob") == untouched


async def stored_again(client: httpx.AsyncClient, query: str, **variables: Any) -> Any:
    """The answer was kept through the write: it showed nothing the write changed."""
    body, hit = await ask(client, query, variables)
    assert hit is True, body
    return body["data"]


async def test_update_post(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    await stored(reader, POST, id=pid(1))
    directory = await stored(reader, DIRECTORY, first=1)  # alice's posts, without their ids
    other = await stored(reader, POST, id=pid(3))
    await mutate(
        writer,
        as_user("alice"),
        'mutation($id: ID!) { updatePost(input: {id: $id, title: "A1!"}) { id } }',
        id=pid(1),
    )
    assert (await fresh(reader, POST, id=pid(1)))["post"]["title"] == "A1!"
    assert await fresh(reader, DIRECTORY, first=1) != directory
    assert await stored_again(reader, POST, id=pid(3)) == other


async def test_delete_post(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    assert (await stored(reader, NODE, id=cid(1)))["node"]["body"]
    assert titles(await stored(reader, TIMELINE, first=5))[-1] == "A1"
    bob = await stored(reader, PROFILE, handle="bob")  # a commenter of post 1
    await mutate(writer, as_user("alice"), "mutation($id: ID!) { deletePost(id: $id) }", id=pid(1))
    assert (await fresh(reader, NODE, id=cid(1)))["node"] is None
    assert "A1" not in titles(await fresh(reader, TIMELINE, first=5))
    bob_now = await fresh(reader, PROFILE, handle="bob")
    assert bob_now["userByHandle"]["stats"]["commentCount"] == (
        bob["userByHandle"]["stats"]["commentCount"] - 2
    )


async def test_add_comment(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    post = await stored(reader, POST, id=pid(4))
    dave = await stored(reader, PROFILE, handle="dave")
    await mutate(
        writer,
        as_user("dave"),
        'mutation($id: ID!) { addComment(input: {postId: $id, body: "yes"}) { id } }',
        id=pid(4),
    )
    now = await fresh(reader, POST, id=pid(4))
    assert now["post"]["comments"]["totalCount"] == post["post"]["comments"]["totalCount"] + 1
    dave_now = await fresh(reader, PROFILE, handle="dave")
    assert dave_now["userByHandle"]["stats"]["commentCount"] == (
        dave["userByHandle"]["stats"]["commentCount"] + 1
    )


async def test_like_and_unlike(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    like = "mutation($id: ID!) { likePost(postId: $id) { id } }"
    unlike = "mutation($id: ID!) { unlikePost(postId: $id) { id } }"
    assert (await stored(reader, POST, id=pid(4)))["post"]["likeCount"] == 0
    carol = await stored(reader, PROFILE, handle="carol")
    await mutate(writer, as_user("dave"), like, id=pid(4))
    assert (await fresh(reader, POST, id=pid(4)))["post"]["likeCount"] == 1
    carol_now = await fresh(reader, PROFILE, handle="carol")
    assert carol_now["userByHandle"]["stats"]["likesReceived"] == (
        carol["userByHandle"]["stats"]["likesReceived"] + 1
    )
    await stored_again(reader, POST, id=pid(4))
    # A like that changes nothing invalidates nothing.
    await mutate(writer, as_user("dave"), like, id=pid(4))
    await stored_again(reader, POST, id=pid(4))
    await mutate(writer, as_user("dave"), unlike, id=pid(4))
    assert (await fresh(reader, POST, id=pid(4)))["post"]["likeCount"] == 0


async def test_follow_and_unfollow(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    follow = "mutation($id: ID!) { follow(userId: $id) { id } }"
    unfollow = "mutation($id: ID!) { unfollow(userId: $id) { id } }"
    bob = await stored(reader, PROFILE, handle="bob")
    leaderboard = await stored(reader, LEADERBOARD, first=4)  # recommendations, without ids
    feed_query = operation("Feed")
    feed, hit = await ask(reader, feed_query, {"first": 5}, as_user("dave"))
    assert hit is False
    await mutate(writer, as_user("dave"), follow, id=uid("bob"))
    bob_now = await fresh(reader, PROFILE, handle="bob")
    assert bob_now["userByHandle"]["stats"]["followerCount"] == (
        bob["userByHandle"]["stats"]["followerCount"] + 1
    )
    assert await fresh(reader, LEADERBOARD, first=4) != leaderboard
    feed_now, hit = await ask(reader, feed_query, {"first": 5}, as_user("dave"))
    assert hit is False
    assert feed_now != feed  # bob's post is in dave's feed now
    await mutate(writer, as_user("dave"), unfollow, id=uid("bob"))
    assert await fresh(reader, PROFILE, handle="bob") == bob


async def test_follow_invalidates_the_recommendations_of_the_followers(
    writer: httpx.AsyncClient, reader: httpx.AsyncClient, as_user: Headers
) -> None:
    # carol follows alice: alice's new followee is among carol's recommendations.
    query = "query($id: ID!) { user(id: $id) { id recommendedUsers(first: 5) { id } } }"
    before = await stored(reader, query, id=uid("carol"))
    await mutate(
        writer,
        as_user("alice"),
        "mutation($id: ID!) { unfollow(userId: $id) { id } }",
        id=uid("bob"),
    )
    assert await fresh(reader, query, id=uid("carol")) != before


async def test_sign_up(writer: httpx.AsyncClient, reader: httpx.AsyncClient) -> None:
    assert (await stored(reader, BY_HANDLE, handle="erin"))["userByHandle"] is None
    users = "query { users(first: 10) { totalCount nodes { handle } } }"
    assert (await stored(reader, users))["users"]["totalCount"] == 4
    body, _ = await ask(
        writer,
        'mutation { signUp(input: {handle: "erin", displayName: "Erin",'
        ' password: "correct horse battery"}) { token } }',
    )
    assert "errors" not in body, body
    assert (await fresh(reader, BY_HANDLE, handle="erin"))["userByHandle"] == {"handle": "erin"}
    assert (await fresh(reader, users))["users"]["totalCount"] == 5
