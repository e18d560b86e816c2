"""signUp, logIn, tokens and the viewer, over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.conftest import gql
from tests.integration.errors import codes, only_error
from tests.integration.world import USERS, uid
from tests.sessions import session_token
from wren.db.seed import DEMO_PASSWORD, DEMO_PASSWORD_HASH
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { token user { id handle displayName bio } }
}
"""
LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token user { handle } }
}
"""
VIEWER = "{ viewer { handle } }"
CREATE_POST = 'mutation { createPost(input: {title: "T", body: "B"}) { id } }'


def new_account(**changes: Any) -> dict[str, Any]:
    account = {"handle": "newbie", "displayName": "New Bie", "password": "correct horse"}
    return {"input": {**account, **changes}}


async def count(db: asyncpg.Connection, table: str) -> int:
    n: int = await db.fetchval(f"SELECT count(*) FROM {table}")
    return n


async def test_sign_up_returns_a_working_token(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    body = await gql(client, SIGN_UP, new_account(handle="  newbie ", bio="  Hello\nthere  "))
    payload = body["data"]["signUp"]
    assert payload["user"]["handle"] == "newbie"
    assert payload["user"]["displayName"] == "New Bie"
    assert payload["user"]["bio"] == "Hello\nthere"

    viewer = await gql(client, VIEWER, authorization=f"Bearer {payload['token']}")
    assert viewer == {"data": {"viewer": {"handle": "newbie"}}}
    stored = await db.fetchval("SELECT password_hash FROM users WHERE handle = 'newbie'")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored


async def test_sign_up_then_log_in(client: httpx.AsyncClient) -> None:
    await gql(client, SIGN_UP, new_account())
    body = await gql(client, LOG_IN, {"handle": "NewBie", "password": "correct horse"})
    assert body["data"]["logIn"]["user"] == {"handle": "newbie"}
    viewer = await gql(client, VIEWER, authorization=f"Bearer {body['data']['logIn']['token']}")
    assert viewer["data"]["viewer"] == {"handle": "newbie"}


async def test_handle_is_unique_whatever_the_case(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute(
        "INSERT INTO users (handle, display_name, password_hash) VALUES ('Legacy', 'L', 'x')"
    )
    for handle in ("alice", "legacy"):
        body = await gql(client, SIGN_UP, new_account(handle=handle))
        assert body["data"] is None
        assert only_error(body) == {"code": "BAD_USER_INPUT", "field": "handle"}
    assert await count(db, "users") == len(USERS) + 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"handle": "ab"}, "handle"),
        ({"handle": "a" * 31}, "handle"),
        ({"handle": "Alice2"}, "handle"),
        ({"handle": "al-ice"}, "handle"),
        ({"displayName": "   "}, "displayName"),
        ({"displayName": "x" * 81}, "displayName"),
        ({"displayName": "Bell\x07"}, "displayName"),
        ({"displayName": "two\nlines"}, "displayName"),
        ({"password": "seven77"}, "password"),
        ({"password": "p" * 201}, "password"),
        ({"bio": "b" * 501}, "bio"),
        ({"bio": "nul\x00byte"}, "bio"),
    ],
)
async def test_sign_up_validation(
    client: httpx.AsyncClient, db: asyncpg.Connection, changes: dict[str, str], field: str
) -> None:
    body = await gql(client, SIGN_UP, new_account(**changes))
    assert body["data"] is None
    extensions = only_error(body)
    assert extensions == {"code": "BAD_USER_INPUT", "field": field}
    assert await count(db, "users") == len(USERS)


async def test_boundaries_are_accepted(client: httpx.AsyncClient) -> None:
    body = await gql(
        client,
        SIGN_UP,
        new_account(handle="a_9" + "z" * 27, displayName="d" * 80, password="p" * 8, bio=" "),
    )
    assert body["data"]["signUp"]["user"]["bio"] is None


@pytest.mark.parametrize(
    ("handle", "password"),
    [("alice", "wrong password"), ("nobody", DEMO_PASSWORD), ("x", "p" * 10_000)],
)
async def test_log_in_refuses_wrong_credentials_alike(
    client: httpx.AsyncClient, db: asyncpg.Connection, handle: str, password: str
) -> None:
    await db.execute("UPDATE users SET password_hash = $1", DEMO_PASSWORD_HASH)
    body = await gql(client, LOG_IN, {"handle": handle, "password": password})
    assert body["data"] is None
    assert only_error(body) == {"code": "UNAUTHENTICATED"}
    assert body["errors"][0]["message"] == "Wrong handle or password."


async def test_log_in_with_the_demo_password(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute("UPDATE users SET password_hash = $1", DEMO_PASSWORD_HASH)
    body = await gql(client, LOG_IN, {"handle": " Carol ", "password": DEMO_PASSWORD})
    assert body["data"]["logIn"]["user"] == {"handle": "carol"}
    # Parameters unchanged: the stored hash is not rewritten.
    assert await db.fetchval("SELECT password_hash FROM users WHERE id = 3") == DEMO_PASSWORD_HASH


async def test_log_in_upgrades_a_weak_hash(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    from argon2 import PasswordHasher

    weak = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("old password")
    await db.execute("UPDATE users SET password_hash = $1 WHERE id = 1", weak)
    body = await gql(client, LOG_IN, {"handle": "alice", "password": "old password"})
    assert body["data"]["logIn"]["user"] == {"handle": "alice"}
    stored = await db.fetchval("SELECT password_hash FROM users WHERE id = 1")
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


async def test_viewer_without_token_is_null(client: httpx.AsyncClient) -> None:
    assert await gql(client, VIEWER) == {"data": {"viewer": None}}
    assert await gql(client, VIEWER, authorization="  ") == {"data": {"viewer": None}}


async def test_viewer_is_the_tokens_user(
    client: httpx.AsyncClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    body = await gql(client, "{ viewer { id handle } }", **as_user("bob"))
    assert body == {"data": {"viewer": {"id": uid("bob"), "handle": "bob"}}}


def _tokens(settings: Settings) -> dict[str, str]:
    now = datetime.now(UTC)
    secret = settings.jwt_secret.get_secret_value()
    return {
        "expired": session_token(settings, 1, now=now - timedelta(seconds=settings.jwt_ttl + 1)),
        "forged": jwt.encode(
            {"sub": "1", "iss": "wren", "iat": now, "exp": now + timedelta(hours=1)},
            "another-secret-of-at-least-32-bytes",
            algorithm="HS256",
        ),
        "unsigned": jwt.encode(
            {"sub": "1", "iss": "wren", "iat": now, "exp": now + timedelta(hours=1)},
            None,
            algorithm="none",
        ),
        "no expiry": jwt.encode({"sub": "1", "iss": "wren", "iat": now}, secret),
        "bad subject": jwt.encode(
            {"sub": "alice", "iss": "wren", "iat": now, "exp": now + timedelta(hours=1)}, secret
        ),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize(
    "kind", ["expired", "forged", "unsigned", "no expiry", "bad subject", "garbage", "scheme"]
)
@pytest.mark.parametrize("query", [VIEWER, CREATE_POST, "{ posts(first: 1) { totalCount } }"])
async def test_a_bad_token_is_refused_never_anonymous(
    client: httpx.AsyncClient, db: asyncpg.Connection, settings: Settings, kind: str, query: str
) -> None:
    header = "Basic YWxpY2U6cHc=" if kind == "scheme" else f"Bearer {_tokens(settings)[kind]}"
    response = await client.post(
        "/graphql", json={"query": query}, headers={"authorization": header}
    )
    # Refused as a whole, before anything runs: 401 and no `data` entry.
    assert response.status_code == 401
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["UNAUTHENTICATED"]
    assert await count(db, "posts") == 5


async def test_a_token_of_a_deleted_account_is_refused(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
) -> None:
    """Deleting a user deletes its sessions: its token is refused as a whole."""
    headers = {"authorization": f"Bearer {session_token(settings, USERS['dave'])}"}
    await db.execute("DELETE FROM users WHERE id = $1", USERS["dave"])
    for query in (CREATE_POST, VIEWER):
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        assert response.status_code == 401
        assert codes(response.json()) == ["UNAUTHENTICATED"]
