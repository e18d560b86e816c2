"""Subscriptions over WebSocket at /graphql, on the real PostgreSQL and Redis.

Servers are uvicorn on loopback ports: the session's app (its lifespan already running)
in this event loop, or a process of its own. Mutations go through HTTP; subscribers
are `websockets` clients speaking graphql-transport-ws (one test speaks graphql-ws).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import REDIS_URL, free_port, gql
from tests.http.conftest import fragments_bomb, live_server, serving
from tests.integration.test_cache_outage import RedisServer
from tests.integration.world import USERS, pid, uid
from tests.sessions import session_token
from wren.cache.keys import Channels
from wren.ids import to_global_id
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

COMMENT_ADDED = """
subscription Comments($postId: ID!) {
  commentAdded(postId: $postId) {
    id body author { handle } post { id viewerHasLiked comments(first: 0) { totalCount } }
  }
}
"""
POST_CREATED = """
subscription Posts($authorId: ID) {
  postCreated(authorId: $authorId) { id title author { handle } }
}
"""
ADD_COMMENT = """
mutation Add($input: AddCommentInput!) { addComment(input: $input) { id } }
"""
CREATE_POST = """
mutation Create($input: CreatePostInput!) { createPost(input: $input) { id } }
"""
QUIET = 0.5  # seconds without a message that count as "nothing else came"


def token(settings: Settings, handle: str) -> str:
    return session_token(settings, USERS[handle])


def bearer(settings: Settings, handle: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(settings, handle)}"}


@contextlib.asynccontextmanager
async def uvicorn_serving(app: FastAPI) -> AsyncIterator[str]:
    """The ws:// URL of /graphql of an app whose lifespan is already running."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        ws="websockets-sansio",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    async with uvicorn_serving(app) as url:
        yield url


class Subscriber:
    """One WebSocket connection speaking graphql-transport-ws."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.ids = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def receive(self, within: float = 10) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.connection.recv(), within)
        message: dict[str, Any] = orjson.loads(raw)
        return message

    async def init(self, payload: dict[str, Any] | None = None) -> None:
        await self.send({"type": "connection_init", "payload": payload or {}})
        assert await self.receive() == {"type": "connection_ack"}

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self.ids += 1
        key = str(self.ids)
        payload = {"query": query, "variables": variables or {}}
        await self.send({"id": key, "type": "subscribe", "payload": payload})
        return key

    async def nothing(self, within: float = QUIET) -> None:
        """No message arrives for a while."""
        try:
            message = await self.receive(within)
        except TimeoutError:
            return
        pytest.fail(f"unexpected message {message}")


@contextlib.asynccontextmanager
async def subscriber(
    url: str, *, headers: dict[str, str] | None = None, protocol: str = "graphql-transport-ws"
) -> AsyncIterator[Subscriber]:
    async with connect(url, subprotocols=[protocol], additional_headers=headers) as ws:  # type: ignore[list-item]
        yield Subscriber(ws)


async def listening(
    settings: Settings, channel: str, count: int = 1, redis_url: str = REDIS_URL
) -> None:
    """Wait until `count` processes listen on a channel in Redis (so no event is missed)."""
    redis = Redis.from_url(redis_url)
    try:
        for _ in range(400):
            [(_, subscribers)] = await redis.pubsub_numsub(channel)
            if subscribers >= count:
                return
            await asyncio.sleep(0.025)
    finally:
        await redis.aclose()
    raise AssertionError(f"nobody listens on {channel}")


def channels(settings: Settings) -> Channels:
    return Channels(settings.events_channel_prefix)


async def comment(
    client: httpx.AsyncClient, settings: Settings, handle: str, post: int, body: str
) -> str:
    data = await gql(
        client,
        ADD_COMMENT,
        {"input": {"postId": pid(post), "body": body}},
        **bearer(settings, handle),
    )
    comment_id: str = data["data"]["addComment"]["id"]
    return comment_id


async def post(client: httpx.AsyncClient, settings: Settings, handle: str, title: str) -> str:
    data = await gql(
        client,
        CREATE_POST,
        {"input": {"title": title, "body": "Text."}},
        **bearer(settings, handle),
    )
    post_id: str = data["data"]["createPost"]["id"]
    return post_id


# -- commentAdded


async def test_comment_added_sends_that_posts_comments_only(
    ws_url: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with subscriber(ws_url) as sub:
        await sub.init({"Authorization": f"Bearer {token(settings, 'carol')}"})
        key = await sub.subscribe(COMMENT_ADDED, {"postId": pid(1)})
        await listening(settings, channels(settings).comment_added(1))
        await comment(client, settings, "bob", 3, "elsewhere")
        first = await comment(client, settings, "bob", 1, "first")
        received = [await sub.receive()]
        second = await comment(client, settings, "dave", 1, "second")
        received.append(await sub.receive())
        await sub.nothing()
    # Carol likes post 1 (the viewer came with connection_init), and each event is read
    # afresh: the count moves although the post was loaded for the first event already.
    assert received == [
        {
            "id": key,
            "type": "next",
            "payload": {
                "data": {
                    "commentAdded": {
                        "id": comment_id,
                        "body": body,
                        "author": {"handle": handle},
                        "post": {
                            "id": pid(1),
                            "viewerHasLiked": True,
                            "comments": {"totalCount": total},
                        },
                    }
                }
            },
        }
        for comment_id, body, handle, total in [
            (first, "first", "bob", 5),
            (second, "second", "dave", 6),
        ]
    ]


async def test_complete_stops_the_events(
    ws_url: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    channel = channels(settings).comment_added(1)
    async with subscriber(ws_url) as sub:
        await sub.init()
        key = await sub.subscribe(COMMENT_ADDED, {"postId": pid(1)})
        await listening(settings, channel)
        await sub.send({"id": key, "type": "complete"})
        # The process leaves the channel once its last subscriber is gone.
        for _ in range(200):
            redis = Redis.from_url(REDIS_URL)
            try:
                [(_, count)] = await redis.pubsub_numsub(channel)
            finally:
                await redis.aclose()
            if count == 0:
                break
            await asyncio.sleep(0.025)
        else:
            pytest.fail("the channel is still subscribed")
        await comment(client, settings, "bob", 1, "too late")
        await sub.nothing()


# -- postCreated


async def test_post_created_filters_by_author(
    ws_url: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with subscriber(ws_url, headers=bearer(settings, "dave")) as sub:
        await sub.init()
        everyone = await sub.subscribe(POST_CREATED)
        alice = await sub.subscribe(POST_CREATED, {"authorId": uid("alice")})
        # Both subscriptions share the process's one subscription to the channel.
        await listening(settings, channels(settings).post_created)
        await asyncio.sleep(0.1)
        by_bob = await post(client, settings, "bob", "From Bob")
        by_alice = await post(client, settings, "alice", "From Alice")
        received = [await sub.receive() for _ in range(3)]
        await sub.nothing()

    def event(key: str, post_id: str, title: str, handle: str) -> dict[str, Any]:
        node = {"id": post_id, "title": title, "author": {"handle": handle}}
        return {"id": key, "type": "next", "payload": {"data": {"postCreated": node}}}

    assert sorted(received, key=orjson.dumps) == sorted(
        [
            event(everyone, by_bob, "From Bob", "bob"),
            event(everyone, by_alice, "From Alice", "alice"),
            event(alice, by_alice, "From Alice", "alice"),
        ],
        key=orjson.dumps,
    )


# -- refusals


@pytest.mark.parametrize(
    ("query", "variables", "argument"),
    [
        (COMMENT_ADDED, {"postId": pid(999)}, "postId"),
        (COMMENT_ADDED, {"postId": uid("alice")}, "postId"),
        (POST_CREATED, {"authorId": to_global_id("User", 999)}, "authorId"),
        (POST_CREATED, {"authorId": pid(1)}, "authorId"),
    ],
)
async def test_unknown_ids_are_not_found(
    ws_url: str, query: str, variables: dict[str, Any], argument: str
) -> None:
    async with subscriber(ws_url) as sub:
        await sub.init()
        key = await sub.subscribe(query, variables)
        message = await sub.receive()
    assert message["id"] == key
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": argument}
    assert error["message"].startswith("No ")


@pytest.mark.parametrize(
    ("query", "variables", "argument"),
    [
        (COMMENT_ADDED, {"postId": "nonsense"}, "postId"),
        (COMMENT_ADDED, {"postId": pid(1) + "!!*"}, "postId"),
        (POST_CREATED, {"authorId": "nonsense"}, "authorId"),
        (POST_CREATED, {"authorId": uid("alice") + "\u0000"}, "authorId"),
    ],
)
async def test_malformed_ids_are_bad_user_input(
    ws_url: str, query: str, variables: dict[str, Any], argument: str
) -> None:
    async with subscriber(ws_url) as sub:
        await sub.init()
        key = await sub.subscribe(query, variables)
        message = await sub.receive()
    assert message["id"] == key
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}
    assert error["message"] == "Malformed id."


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ viewer { id } }", "BAD_REQUEST"),
        ('mutation { unfollow(userId: "x") { id } }', "BAD_REQUEST"),
        ("subscription { postCreated { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { postCreated(authorId: true) { id } }", "GRAPHQL_VALIDATION_FAILED"),
        (
            "subscription { postCreated { author { posts(first: 100) { nodes { comments("
            "first: 100) { nodes { id } } } } } } }",
            "QUERY_TOO_COSTLY",
        ),
        (
            "subscription { postCreated { a: id b: id c: id d: id e: id f: id g: id h: id"
            " i: id j: id k: id l: id m: id n: id o: id p: id } }",
            "TOO_MANY_ALIASES",
        ),
        (
            "subscription { postCreated { author { ...F0 } } } " + fragments_bomb(40),
            "TOO_MANY_FIELDS",
        ),
        (
            "subscription { postCreated { author { posts(first: 1000) { totalCount } } } }",
            "BAD_USER_INPUT",
        ),
        ("subscription { postCreated { id } }" + " " * 70_000, "PAYLOAD_TOO_LARGE"),
    ],
)
async def test_the_http_limits_apply(ws_url: str, query: str, code: str) -> None:
    async with subscriber(ws_url) as sub:
        await sub.init()
        key = await sub.subscribe(query)
        message = await sub.receive()
    assert message["id"] == key
    assert message["type"] == "error"
    assert [error["extensions"]["code"] for error in message["payload"]] == [code]


@pytest.mark.parametrize(
    ("query", "variables", "argument"),
    [
        (COMMENT_ADDED, {"postId": None}, None),
        (COMMENT_ADDED, {}, None),
        (COMMENT_ADDED, {"postId": [1]}, None),
        (
            "subscription($n: Int) { postCreated { author { posts(first: $n) { totalCount } } } }",
            {"n": None},
            "first",
        ),
        (
            "subscription($n: Int) { postCreated { author { posts(first: $n) { totalCount } } } }",
            {"n": 101},
            "first",
        ),
    ],
)
async def test_variables_are_refused_with_a_code(
    ws_url: str, query: str, variables: dict[str, Any], argument: str | None
) -> None:
    """Coercion failures and arguments out of range, as over HTTP: BAD_USER_INPUT."""
    async with subscriber(ws_url) as sub:
        await sub.init()
        key = await sub.subscribe(query, variables)
        message = await sub.receive()
    assert message["id"] == key
    assert message["type"] == "error"
    [error] = message["payload"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"].get("argument") == argument


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ viewer { id } }", "BAD_REQUEST"),
        ('mutation { unfollow(userId: "x") { id } }', "BAD_REQUEST"),
        ("subscription { postCreated { nope } }", "GRAPHQL_VALIDATION_FAILED"),
        ("subscription { postCreated { id", "GRAPHQL_PARSE_FAILED"),
    ],
)
async def test_the_legacy_protocol_refuses_with_codes(ws_url: str, query: str, code: str) -> None:
    """graphql-ws (gql's first choice) refuses like graphql-transport-ws, with a code."""
    async with subscriber(ws_url, protocol="graphql-ws") as sub:
        await sub.send({"type": "connection_init", "payload": {}})
        assert (await sub.receive())["type"] == "connection_ack"
        await sub.send({"id": "1", "type": "start", "payload": {"query": query}})
        while (message := await sub.receive())["type"] == "ka":
            pass
    assert message["id"] == "1"
    assert message["type"] == "error"
    assert message["payload"]["extensions"]["code"] == code


async def test_a_bad_token_closes_the_connection(ws_url: str) -> None:
    async with subscriber(ws_url) as sub:
        await sub.send({"type": "connection_init", "payload": {"Authorization": "Bearer x"}})
        with pytest.raises(ConnectionClosed) as closed:
            await sub.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_bad_header_token_closes_the_connection(ws_url: str) -> None:
    async with subscriber(ws_url, headers={"authorization": "Bearer x"}) as sub:
        await sub.send({"type": "connection_init"})
        with pytest.raises(ConnectionClosed) as closed:
            await sub.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_subscriptions_per_connection_are_limited(settings: Settings) -> None:
    async with (
        serving(settings, max_subscriptions=1) as (application, _),
        uvicorn_serving(application) as url,
        subscriber(url) as sub,
    ):
        await sub.init()
        await sub.subscribe(POST_CREATED)
        key = await sub.subscribe(POST_CREATED)
        message = await sub.receive()
    assert message == {
        "id": key,
        "type": "error",
        "payload": [{"message": "Subscription limit reached"}],
    }


# -- across processes, protocols and stand-ins


async def test_events_cross_processes(client: httpx.AsyncClient, settings: Settings) -> None:
    """A server process of its own hears a comment written through this one."""
    with live_server(settings, WREN_CACHE_NAMESPACE=settings.cache_namespace) as http_url:
        async with subscriber(http_url.replace("http://", "ws://")) as sub:
            await sub.init()
            key = await sub.subscribe(
                "subscription($p: ID!) { commentAdded(postId: $p) { body } }", {"p": pid(3)}
            )
            await listening(settings, channels(settings).comment_added(3))
            await comment(client, settings, "carol", 3, "from afar")
            message = await sub.receive()
            await sub.nothing()
    assert message == {
        "id": key,
        "type": "next",
        "payload": {"data": {"commentAdded": {"body": "from afar"}}},
    }


async def test_legacy_graphql_ws(
    ws_url: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    async with subscriber(ws_url, protocol="graphql-ws") as sub:
        await sub.send({"type": "connection_init", "payload": {}})
        assert (await sub.receive())["type"] == "connection_ack"
        await sub.send({"id": "1", "type": "start", "payload": {"query": POST_CREATED}})
        await listening(settings, channels(settings).post_created)
        post_id = await post(client, settings, "alice", "Legacy")
        while (message := await sub.receive())["type"] == "ka":
            pass
    assert message == {
        "id": "1",
        "type": "data",
        "payload": {
            "data": {
                "postCreated": {"id": post_id, "title": "Legacy", "author": {"handle": "alice"}}
            }
        },
    }


async def test_the_in_process_stand_in_works_within_one_process(settings: Settings) -> None:
    async with (
        serving(settings, redis_url=None) as (application, http),
        uvicorn_serving(application) as url,
        subscriber(url) as sub,
    ):
        await sub.init()
        key = await sub.subscribe(POST_CREATED)
        for _ in range(200):
            if application.state.resources.events.listening(channels(settings).post_created):
                break
            await asyncio.sleep(0.025)
        post_id = await post(http, settings, "bob", "Local")
        message = await sub.receive()
    assert message["id"] == key
    assert message["payload"]["data"]["postCreated"]["id"] == post_id


async def test_publishing_without_redis_never_fails_the_mutation(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with serving(settings, redis_url="redis://127.0.0.1:1/0", redis_timeout=0.2) as (_, http):
        with caplog.at_level(logging.WARNING, logger="wren.events.bus"):
            post_id = await post(http, settings, "bob", "Unheard")
            comment_id = await comment(http, settings, "alice", 1, "Unheard too")
    assert post_id
    assert comment_id
    warnings = [r.getMessage() for r in caplog.records if r.name == "wren.events.bus"]
    assert len(warnings) == 2
    assert all("not published" in warning for warning in warnings)


async def test_a_subscription_survives_a_redis_restart(settings: Settings, tmp_path: Path) -> None:
    """The process's listener reconnects and subscribes again; later events arrive."""
    server = RedisServer(tmp_path, "")
    await server.start()
    try:
        async with (
            serving(settings, redis_url=server.url, cache_breaker_cooldown=0.2) as (
                application,
                http,
            ),
            uvicorn_serving(application) as url,
            subscriber(url) as sub,
        ):
            await sub.init()
            key = await sub.subscribe(POST_CREATED, {"authorId": uid("bob")})
            channel = channels(settings).post_created
            await listening(settings, channel, redis_url=server.url)
            server.kill()
            await server.start()
            await listening(settings, channel, redis_url=server.url)
            post_id = await post(http, settings, "bob", "After the restart")
            message = await sub.receive()
    finally:
        server.kill()
    assert message["id"] == key
    assert message["payload"]["data"]["postCreated"]["id"] == post_id


async def test_subscriptions_are_not_served_over_http(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": POST_CREATED})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


async def test_trusted_mode_runs_registered_documents_only(settings: Settings) -> None:
    async with (
        serving(settings, trusted_documents=True) as (application, _),
        uvicorn_serving(application) as url,
        subscriber(url) as sub,
    ):
        await sub.init()
        key = await sub.subscribe(POST_CREATED)
        message = await sub.receive()
    assert message["id"] == key
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_FOUND"}
