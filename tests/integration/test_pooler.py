"""Behind PgBouncer in transaction mode: every operation works with WREN_DATABASE_POOLER.

The app under test is the real one, connected through a PgBouncer of the test's own with
fewer server connections than the app's pool, so that a client connection's transactions
run on different server connections. Every contract operation and every mutation runs 20
at a time; without the setting, named prepared statements that were created on one server
connection are looked for on another, and requests fail.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.conftest import operation
from tests.integration.cache_support import http, resources_of, running
from tests.integration.errors import codes
from tests.integration.pgbouncer import PgBouncer
from tests.integration.world import pid, post_cursor, uid
from tests.sessions import session_token
from wren.settings import Pooler, Settings

pytestmark = pytest.mark.usefixtures("small_world")

CONCURRENCY = 20
# Each round runs every read and every write once; all of them together stay bounded.
ROUNDS = 6
DEADLINE = 120.0

# (operation, variables, viewer id or None): every operation of contract/operations.
READS: list[tuple[str, dict[str, Any], int | None]] = [
    ("Timeline", {"first": 2}, None),
    ("Timeline", {"first": 2, "after": post_cursor(3)}, None),
    ("Directory", {"first": 3}, None),
    ("Leaderboard", {"first": 4}, None),
    ("Profile", {"handle": "alice"}, None),
    ("UserByHandle", {"handle": "carol"}, None),
    ("Feed", {"first": 3}, 1),
]

UPDATE = "mutation($id: ID!, $t: String) { updatePost(input: {id: $id, title: $t}) { title } }"
DELETE = "mutation($id: ID!) { deletePost(id: $id) }"
COMMENT = 'mutation($id: ID!) { addComment(input: {postId: $id, body: "c"}) { id body } }'
FOLLOW = "mutation($id: ID!) { follow(userId: $id) { handle } }"
UNFOLLOW = "mutation($id: ID!) { unfollow(userId: $id) { handle } }"
LIKE = "mutation($id: ID!) { likePost(postId: $id) { likeCount viewerHasLiked } }"
UNLIKE = "mutation($id: ID!) { unlikePost(postId: $id) { likeCount viewerHasLiked } }"
SIGN_UP = "mutation($i: SignUpInput!) { signUp(input: $i) { token user { handle } } }"
LOG_IN = "mutation($h: String!, $p: String!) { logIn(handle: $h, password: $p) { token } }"

Answer = tuple[str, int, dict[str, Any]]
Task = Callable[[], Awaitable[list[Answer]]]


@pytest.fixture(scope="module")
def pgbouncer() -> Iterator[PgBouncer]:
    """PgBouncer in transaction mode with 3 server connections (the app has 8): consecutive
    transactions of one client connection land on different server connections."""
    bouncer = PgBouncer(server_connections=3)
    bouncer.start()
    try:
        yield bouncer
    finally:
        bouncer.stop()


@asynccontextmanager
async def bounced(
    settings: Settings, pgbouncer: PgBouncer, pooler: Pooler
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real app, its database reached through PgBouncer."""
    database = make_url(settings.database_url or "").database or ""
    changed = Settings(  # type: ignore[call-arg]
        _env_file=None,
        **{
            **settings.model_dump(),
            "database_url": pgbouncer.url(database),
            "database_pooler": pooler,
            "pool_size": 8,
        },
    )
    async with running(changed) as application, http(application) as client:
        yield client


class Session:
    """Requests of one client, with tokens issued by the app's settings."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.serial = itertools.count(1)
        self.tokens: dict[int, str] = {}

    async def ask(
        self, name: str, query: str, variables: dict[str, Any], viewer: int | None = None
    ) -> Answer:
        headers = {}
        if viewer is not None:
            if viewer not in self.tokens:
                self.tokens[viewer] = session_token(self.settings, viewer)
            headers["authorization"] = f"Bearer {self.tokens[viewer]}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        body.pop("extensions", None)
        return name, response.status_code, body

    def reads(self) -> list[Task]:
        """Every contract read operation once."""

        def read(name: str, variables: dict[str, Any], viewer: int | None) -> Task:
            async def run() -> list[Answer]:
                return [await self.ask(name, operation(name), variables, viewer)]

            return run

        return [read(name, variables, viewer) for name, variables, viewer in READS]

    def writes(self, *, accounts: bool) -> list[Task]:
        """Every mutation once (signUp and logIn, which hash passwords, when `accounts`)."""
        n = next(self.serial)

        async def create_post() -> list[Answer]:
            variables = {"input": {"title": f"Pooled {n}", "body": "Through PgBouncer."}}
            return [await self.ask("Write", operation("Write"), variables, 2)]

        async def create_and_delete() -> list[Answer]:
            variables = {"input": {"title": f"Gone {n}", "body": "Soon deleted."}}
            created = await self.ask("Write", operation("Write"), variables, 1)
            post = created[2].get("data", {}) or {}
            post_id = (post.get("createPost") or {}).get("id", "")
            return [created, await self.ask("deletePost", DELETE, {"id": post_id}, 1)]

        async def update() -> list[Answer]:
            return [await self.ask("updatePost", UPDATE, {"id": pid(2), "t": f"A2 #{n}"}, 1)]

        async def comment() -> list[Answer]:
            return [await self.ask("addComment", COMMENT, {"id": pid(3)}, 3)]

        async def follow_toggle() -> list[Answer]:
            name, query = ("follow", FOLLOW) if n % 2 else ("unfollow", UNFOLLOW)
            return [await self.ask(name, query, {"id": uid("dave")}, 2)]

        async def like_toggle() -> list[Answer]:
            name, query = ("likePost", LIKE) if n % 2 else ("unlikePost", UNLIKE)
            return [await self.ask(name, query, {"id": pid(4)}, 4)]

        async def sign_up_and_log_in() -> list[Answer]:
            account = {"handle": f"pooled{n}", "displayName": "Pooled", "password": "pw-pooled"}
            signed = await self.ask("signUp", SIGN_UP, {"i": account})
            logged = await self.ask("logIn", LOG_IN, {"h": f"pooled{n}", "p": "pw-pooled"})
            return [signed, logged]

        tasks: list[Task] = [
            create_post,
            create_and_delete,
            update,
            comment,
            follow_toggle,
            like_toggle,
        ]
        return [*tasks, sign_up_and_log_in] if accounts else tasks


async def run_all(tasks: list[Task]) -> list[Answer]:
    """Run the tasks CONCURRENCY at a time, within DEADLINE; every answer, in task order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(task: Task) -> list[Answer]:
        async with gate:
            return await task()

    async with asyncio.timeout(DEADLINE):
        done = await asyncio.gather(*(one(task) for task in tasks))
    return [answer for answers in done for answer in answers]


def failures(answers: list[Answer]) -> list[Answer]:
    """Answers that are not a 200 with data and no error."""
    return [a for a in answers if a[1] != 200 or "errors" in a[2] or not a[2].get("data")]


def workload(session: Session) -> list[Task]:
    """ROUNDS rounds of every read and every write, interleaved; accounts in two rounds."""
    tasks: list[Task] = []
    for round_ in range(ROUNDS):
        tasks += session.reads()
        tasks += session.writes(accounts=round_ < 2)
    return tasks


async def test_every_operation_works_behind_a_transaction_pooler(
    settings: Settings,
    pgbouncer: PgBouncer,
    client: httpx.AsyncClient,
    db: asyncpg.Connection,
) -> None:
    direct = Session(client, settings)
    expected = await run_all(direct.reads())
    async with bounced(settings, pgbouncer, Pooler.TRANSACTION) as bounced_client:
        session = Session(bounced_client, settings)
        # Reads alone first: the same answers as straight from PostgreSQL.
        reads = await run_all([task for _ in range(ROUNDS) for task in session.reads()])
        assert failures(reads) == []
        assert reads == expected * ROUNDS
        # Then everything at once.
        answers = await run_all(workload(session))
    assert failures(answers) == []
    assert len(answers) == ROUNDS * (len(READS) + 7) + 2 * 2
    # Every create_post stayed, every create_and_delete is gone, 5 posts to begin with.
    assert await db.fetchval("SELECT count(*) FROM posts") == 5 + ROUNDS
    assert await db.fetchval("SELECT count(*) FROM comments") == 5 + ROUNDS


async def test_without_the_setting_a_transaction_pooler_fails_requests(
    settings: Settings, pgbouncer: PgBouncer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with bounced(settings, pgbouncer, Pooler.NONE) as bounced_client:
        session = Session(bounced_client, settings)
        answers = await run_all(workload(session))
    internal = [answer for answer in answers if "INTERNAL_SERVER_ERROR" in codes(answer[2])]
    # The harness reproduces the fault: without the setting, a large share of requests fail
    # as internal errors (and the writes depending on them after them), each logged with the
    # named statement that one server connection lacks.
    assert len(internal) > len(answers) // 10, failures(answers)
    assert 'prepared statement "__asyncpg_stmt_' in caplog.text


async def test_the_setting_leaves_no_named_statement_on_a_connection(settings: Settings) -> None:
    # Straight to PostgreSQL on one connection: every statement of every operation ran on
    # it, and none of them left a named prepared statement behind.
    changed = Settings(  # type: ignore[call-arg]
        _env_file=None,
        **{**settings.model_dump(), "database_pooler": Pooler.TRANSACTION, "pool_size": 1},
    )
    async with running(changed) as application, http(application) as client:
        answers = await run_all(Session(client, settings).reads())
        answers += await run_all(Session(client, settings).writes(accounts=True))
        named = await resources_of(application).db.fetch(
            text("SELECT name FROM pg_prepared_statements")
        )
    assert failures(answers) == []
    assert named == []
