"""Sessions: refresh tokens used once, reuse ending the family, logging out, changing
the password; and which mutations run whatever token is attached."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import StatementLog, gql
from tests.integration.errors import codes, only_error
from tests.sessions import session_token
from wren.app import Resources
from wren.db.seed import DEMO_PASSWORD, DEMO_PASSWORD_HASH
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

LOG_IN = """
mutation LogIn($handle: String!, $password: String!) {
  logIn(handle: $handle, password: $password) { token refreshToken expiresIn user { handle } }
}
"""
REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { token refreshToken expiresIn user { handle } }
}
"""
VIEWER = "{ viewer { handle } }"
CHANGE = """
mutation Change($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new)
}
"""


@pytest.fixture(autouse=True)
async def _demo_passwords(small_world: None, db: asyncpg.Connection) -> None:
    await db.execute("UPDATE users SET password_hash = $1", DEMO_PASSWORD_HASH)


async def log_in(client: httpx.AsyncClient, handle: str = "alice") -> dict[str, Any]:
    body = await gql(client, LOG_IN, {"handle": handle, "password": DEMO_PASSWORD})
    payload: dict[str, Any] = body["data"]["logIn"]
    return payload


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def viewer(client: httpx.AsyncClient, token: str) -> tuple[int, dict[str, Any]]:
    response = await client.post("/graphql", json={"query": VIEWER}, headers=bearer(token))
    return response.status_code, response.json()


async def test_log_in_gives_a_short_access_token_and_a_refresh_token(
    client: httpx.AsyncClient, settings: Settings, db: asyncpg.Connection
) -> None:
    payload = await log_in(client)
    assert payload["expiresIn"] == settings.jwt_ttl == 900
    assert (await viewer(client, payload["token"]))[1]["data"] == {"viewer": {"handle": "alice"}}
    stored = await db.fetch("SELECT digest FROM refresh_tokens")
    assert len(stored) == 1
    assert payload["refreshToken"].encode() not in stored[0]["digest"]


async def test_a_refresh_token_works_once_and_gives_the_next_one(
    client: httpx.AsyncClient,
) -> None:
    first = await log_in(client)
    second = (await gql(client, REFRESH, {"token": first["refreshToken"]}))["data"]
    payload = second["refreshToken"]
    assert payload["user"] == {"handle": "alice"}
    assert payload["refreshToken"] != first["refreshToken"]
    assert (await viewer(client, payload["token"]))[0] == 200
    third = await gql(client, REFRESH, {"token": payload["refreshToken"]})
    assert third["data"]["refreshToken"]["user"] == {"handle": "alice"}


async def test_a_reused_refresh_token_ends_its_whole_family(
    client: httpx.AsyncClient, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    stolen = await log_in(client)
    other_device = await log_in(client)
    rotated = (await gql(client, REFRESH, {"token": stolen["refreshToken"]}))["data"]
    current = rotated["refreshToken"]
    with caplog.at_level(logging.INFO, logger="wren.audit"):
        again = await gql(client, REFRESH, {"token": stolen["refreshToken"]})
    assert only_error(again) == {"code": "UNAUTHENTICATED"}
    # The thief's copy and the owner's successor both stop working, access tokens too.
    later = await gql(client, REFRESH, {"token": current["refreshToken"]})
    assert codes(later) == ["UNAUTHENTICATED"]
    for token in (stolen["token"], current["token"]):
        status, body = await viewer(client, token)
        assert (status, only_error(body)["code"]) == (401, "UNAUTHENTICATED")
    # Another session of the same user is untouched.
    assert (await viewer(client, other_device["token"]))[0] == 200
    reasons = await db.fetch("SELECT end_reason FROM sessions ORDER BY created_at")
    assert [r["end_reason"] for r in reasons] == ["refresh-reuse", None]
    [line] = [r.getMessage() for r in caplog.records if "event=refresh_reuse" in r.getMessage()]
    assert stolen["refreshToken"] not in line
    assert "request_id=" in line
    assert "request_id=-" not in line


async def test_an_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    body = await gql(client, REFRESH, {"token": "never-issued"})
    assert only_error(body) == {"code": "UNAUTHENTICATED"}


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    payload = await log_in(client)
    await db.execute("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
    body = await gql(client, REFRESH, {"token": payload["refreshToken"]})
    assert only_error(body) == {"code": "UNAUTHENTICATED"}
    # Expiry is not reuse: the session's access token still works until it expires.
    assert (await viewer(client, payload["token"]))[0] == 200


async def test_log_out_ends_this_session_only(client: httpx.AsyncClient) -> None:
    here, there = await log_in(client), await log_in(client)
    body = await gql(client, "mutation { logOut }", **bearer(here["token"]))
    assert body == {"data": {"logOut": True}}
    status, refused = await viewer(client, here["token"])
    assert (status, only_error(refused)) == (401, {"code": "UNAUTHENTICATED"})
    assert refused["errors"][0]["message"] == "The session has ended: log in again."
    assert codes(await gql(client, REFRESH, {"token": here["refreshToken"]})) == ["UNAUTHENTICATED"]
    assert (await viewer(client, there["token"]))[0] == 200


async def test_log_out_everywhere_keeps_this_session(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = [await log_in(client) for _ in range(3)]
    bob = await log_in(client, "bob")
    with caplog.at_level(logging.INFO, logger="wren.audit"):
        body = await gql(client, "mutation { logOutEverywhere }", **bearer(sessions[0]["token"]))
    assert body == {"data": {"logOutEverywhere": 2}}
    assert [(await viewer(client, s["token"]))[0] for s in sessions] == [200, 401, 401]
    assert (await viewer(client, bob["token"]))[0] == 200
    assert any("event=logout_everywhere" in r.getMessage() for r in caplog.records)


async def test_change_password_ends_the_other_sessions(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    here, there = await log_in(client), await log_in(client)
    new = "a brand new password"
    with caplog.at_level(logging.INFO, logger="wren.audit"):
        body = await gql(
            client, CHANGE, {"current": DEMO_PASSWORD, "new": new}, **bearer(here["token"])
        )
    assert body == {"data": {"changePassword": 1}}
    assert [(await viewer(client, s["token"]))[0] for s in (here, there)] == [200, 401]
    old = await gql(client, LOG_IN, {"handle": "alice", "password": DEMO_PASSWORD})
    assert codes(old) == ["UNAUTHENTICATED"]
    assert (await gql(client, LOG_IN, {"handle": "alice", "password": new}))["data"]["logIn"]
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "event=password_changed" in text
    assert new not in text
    assert DEMO_PASSWORD not in text


@pytest.mark.parametrize(
    ("current", "new", "code", "field"),
    [
        ("wrong password", "a brand new password", "UNAUTHENTICATED", "currentPassword"),
        (DEMO_PASSWORD, "short", "BAD_USER_INPUT", "newPassword"),
    ],
)
async def test_change_password_refusals(
    client: httpx.AsyncClient, current: str, new: str, code: str, field: str
) -> None:
    here, there = await log_in(client), await log_in(client)
    body = await gql(client, CHANGE, {"current": current, "new": new}, **bearer(here["token"]))
    assert only_error(body) == {"code": code, "field": field}
    assert (await viewer(client, there["token"]))[0] == 200


@pytest.mark.parametrize("mutation", ["mutation { logOut }", "mutation { logOutEverywhere }"])
async def test_session_mutations_need_a_token(client: httpx.AsyncClient, mutation: str) -> None:
    assert only_error(await gql(client, mutation)) == {"code": "UNAUTHENTICATED"}


def _expired(settings: Settings) -> dict[str, str]:
    then = datetime.now(UTC) - timedelta(seconds=settings.jwt_ttl + 1)
    return bearer(session_token(settings, 1, now=then))


async def test_credential_mutations_run_whatever_token_is_attached(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An expired token is why a client refreshes: it must not refuse the refresh."""
    payload = await log_in(client)
    body = await gql(client, REFRESH, {"token": payload["refreshToken"]}, **_expired(settings))
    assert body["data"]["refreshToken"]["user"] == {"handle": "alice"}
    again = await gql(
        client, LOG_IN, {"handle": "bob", "password": DEMO_PASSWORD}, **bearer("garbage")
    )
    assert again["data"]["logIn"]["user"] == {"handle": "bob"}
    sign_up = """mutation { signUp(input: {handle: "newbie", displayName: "N",
      password: "correct horse"}) { user { handle } } __typename }"""
    assert (await gql(client, sign_up, **_expired(settings)))["data"]["signUp"]


@pytest.mark.parametrize(
    "query",
    [
        'mutation { createPost(input: {title: "T", body: "B"}) { id } }',
        'mutation { logIn(handle: "bob", password: "x") { token } logOut }',
        "mutation { logOut }",
    ],
)
async def test_other_mutations_with_a_bad_token_are_refused_as_a_whole(
    client: httpx.AsyncClient, settings: Settings, query: str
) -> None:
    response = await client.post("/graphql", json={"query": query}, headers=_expired(settings))
    assert response.status_code == 401
    assert "data" not in response.json()


async def test_an_ended_session_is_refused_by_another_app_within_the_check_ttl(
    client: httpx.AsyncClient, settings: Settings, resources: Resources
) -> None:
    """A second app on the same database (another instance) with no check cache at all."""
    from tests.http.conftest import serving

    payload = await log_in(client)
    async with serving(settings, session_check_ttl=0) as (_, other):
        assert (await viewer(other, payload["token"]))[0] == 200
        await gql(client, "mutation { logOut }", **bearer(payload["token"]))
        assert (await viewer(other, payload["token"]))[0] == 401


async def test_log_ins_are_audited_with_the_request_id_and_no_secret(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    lines: dict[str, str] = {}
    with caplog.at_level(logging.INFO, logger="wren.audit"):
        for event, password in (("login_failed", "wrong password"), ("login_ok", DEMO_PASSWORD)):
            body = {"query": LOG_IN, "variables": {"handle": "Alice", "password": password}}
            response = await client.post("/graphql", json=body)
            [line] = [r.getMessage() for r in caplog.records if f"event={event}" in r.getMessage()]
            assert f"request_id={response.headers['x-request-id']}" in line
            lines[event] = line
    assert "handle='Alice'" in lines["login_failed"]
    assert "user_id=1" in lines["login_ok"]
    token = response.json()["data"]["logIn"]
    for line in lines.values():
        assert DEMO_PASSWORD not in line
        assert "wrong password" not in line
        assert token["token"] not in line
        assert token["refreshToken"] not in line


@pytest.mark.parametrize(
    ("operation", "statements"),
    [
        # the credentials; the new session with its refresh token
        ("logIn", 2),
        # the user; the new session
        ("signUp", 2),
        # rotation, one statement; the user of the payload
        ("refreshToken", 2),
        # the session's end
        ("logOut", 1),
        ("logOutEverywhere", 1),
        # the user and its hash; the new hash; the other sessions' end
        ("changePassword", 3),
    ],
)
async def test_statements_per_account_mutation(
    client: httpx.AsyncClient, sql: StatementLog, operation: str, statements: int
) -> None:
    payload = await log_in(client)
    queries = {
        "logIn": (LOG_IN, {"handle": "alice", "password": DEMO_PASSWORD}),
        "signUp": (
            "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
            {"input": {"handle": "newbie", "displayName": "N", "password": "correct horse"}},
        ),
        "refreshToken": (REFRESH, {"token": payload["refreshToken"]}),
        "logOut": ("mutation { logOut }", {}),
        "logOutEverywhere": ("mutation { logOutEverywhere }", {}),
        "changePassword": (CHANGE, {"current": DEMO_PASSWORD, "new": "another password"}),
    }
    query, variables = queries[operation]
    sql.clear()
    body = await gql(client, query, variables, **bearer(payload["token"]))
    assert "errors" not in body, body
    assert len(sql) == statements, sql.statements
