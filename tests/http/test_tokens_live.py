"""Tokens across processes: verified by a standard client through the JWKS endpoint,
valid across a key rotation, and refused by another instance once their session ends."""

from __future__ import annotations

import json
import time
from typing import Any

import asyncpg
import httpx
import jwt
import pytest

from tests.http.conftest import live_server
from wren.accounts.keys import generate
from wren.db.seed import DEMO_PASSWORD, DEMO_PASSWORD_HASH
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

LOG_IN = """mutation { logIn(handle: "alice", password: "%s") { token refreshToken } }"""
VIEWER = {"query": "{ viewer { handle } }"}


@pytest.fixture(autouse=True)
async def _demo_passwords(small_world: None, database_url: str) -> None:
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        await conn.execute("UPDATE users SET password_hash = $1", DEMO_PASSWORD_HASH)
    finally:
        await conn.close()


def log_in(url: str) -> dict[str, Any]:
    response = httpx.post(url, json={"query": LOG_IN % DEMO_PASSWORD}, timeout=30)
    payload: dict[str, Any] = response.json()["data"]["logIn"]
    return payload


def viewer_status(url: str, token: str) -> int:
    headers = {"authorization": f"Bearer {token}"}
    return httpx.post(url, json=VIEWER, headers=headers, timeout=30).status_code


def keys(*jwks: dict[str, Any]) -> str:
    return json.dumps({"keys": list(jwks)})


def test_a_token_verifies_with_pyjwks_client_through_the_jwks_endpoint(
    settings: Settings,
) -> None:
    ed, ec = generate("2026-12-ed", "EdDSA"), generate("2026-11-ec", "ES256")
    with live_server(settings, WREN_JWT_KEYS=keys(ed, ec)) as url:
        token = log_in(url)["token"]
        base = url.removesuffix("/graphql")
        response = httpx.get(f"{base}/.well-known/jwks.json")
        assert response.headers["cache-control"] == "public, max-age=300"
        assert [k["kid"] for k in response.json()["keys"]] == ["2026-12-ed", "2026-11-ec"]
        client = jwt.PyJWKClient(f"{base}/.well-known/jwks.json")
        signing_key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, signing_key.key, algorithms=["EdDSA", "ES256"], issuer="wren")
        assert claims["sub"] == "1"
        assert jwt.get_unverified_header(token)["kid"] == "2026-12-ed"


def test_a_rotation_logs_nobody_out(settings: Settings) -> None:
    old, new = generate("old", "ES256"), generate("new", "EdDSA")
    with live_server(settings, WREN_JWT_KEYS=keys(old)) as url:
        before = log_in(url)
    # The new key signs; the old one is still listed, so its tokens stay valid.
    with live_server(settings, WREN_JWT_KEYS=keys(new, old)) as url:
        assert viewer_status(url, before["token"]) == 200
        after = log_in(url)
        assert jwt.get_unverified_header(after["token"])["kid"] == "new"
        refresh = """mutation($t: String!) { refreshToken(refreshToken: $t) { token } }"""
        body = httpx.post(
            url, json={"query": refresh, "variables": {"t": before["refreshToken"]}}, timeout=30
        ).json()
        assert jwt.get_unverified_header(body["data"]["refreshToken"]["token"])["kid"] == "new"
    # Once the old key is dropped, only its access tokens go (refresh tokens are not JWTs).
    with live_server(settings, WREN_JWT_KEYS=keys(new)) as url:
        assert viewer_status(url, before["token"]) == 401
        assert viewer_status(url, after["token"]) == 200


def test_an_ended_session_is_refused_by_another_process(settings: Settings) -> None:
    """logOut through one process; another, which checked the session before, refuses it
    once its check has aged (WREN_SESSION_CHECK_TTL)."""
    with (
        live_server(settings) as first,
        live_server(settings, WREN_SESSION_CHECK_TTL="1") as second,
    ):
        payload = log_in(first)
        assert viewer_status(second, payload["token"]) == 200  # checked, remembered as open
        headers = {"authorization": f"Bearer {payload['token']}"}
        body = httpx.post(first, json={"query": "mutation { logOut }"}, headers=headers).json()
        assert body["data"] == {"logOut": True}
        assert viewer_status(first, payload["token"]) == 401  # at once where it ended
        time.sleep(1.2)
        assert viewer_status(second, payload["token"]) == 401
