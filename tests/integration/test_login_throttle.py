"""The log-in throttle against a real Redis: 429 before any hash, growing back-off, reset
by a success, per client address too; and per-process counting when Redis is down."""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.redis import RedisProcess
from tests.http.conftest import serving
from wren.accounts.passwords import Passwords
from wren.app import Resources
from wren.db.seed import DEMO_PASSWORD, DEMO_PASSWORD_HASH
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

LOG_IN = "mutation($h: String!, $p: String!) { logIn(handle: $h, password: $p) { token } }"


@pytest.fixture(autouse=True)
async def _demo_passwords(small_world: None, db: asyncpg.Connection) -> None:
    await db.execute("UPDATE users SET password_hash = $1", DEMO_PASSWORD_HASH)


class Hashes:
    """How many verifications the app's pool ran."""

    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Hashes:
    seen = Hashes()
    verify, nothing = Passwords.verify, Passwords.verify_nothing

    async def counted_verify(self: Passwords, password_hash: str, password: str) -> bool:
        seen.count += 1
        return await verify(self, password_hash, password)

    async def counted_nothing(self: Passwords, password: str) -> None:
        seen.count += 1
        await nothing(self, password)

    monkeypatch.setattr(Passwords, "verify", counted_verify)
    monkeypatch.setattr(Passwords, "verify_nothing", counted_nothing)
    return seen


async def attempt(
    client: httpx.AsyncClient,
    handle: str,
    password: str = "wrong password",  # noqa: S107
) -> httpx.Response:
    body = {"query": LOG_IN, "variables": {"h": handle, "p": password}}
    return await client.post("/graphql", json=body)


def code(response: httpx.Response) -> Any:
    return response.json()["errors"][0]["extensions"]["code"]


async def test_past_the_threshold_tries_get_429_before_any_hash(
    client: httpx.AsyncClient, settings: Settings, hashes: Hashes,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    for _ in range(settings.login_max_failures):
        response = await attempt(client, "alice")
        assert (response.status_code, code(response)) == (200, "UNAUTHENTICATED")
    assert hashes.count == settings.login_max_failures
    with caplog.at_level(logging.INFO, logger="wren.audit"):
        refused = await attempt(client, "ALICE", DEMO_PASSWORD)  # right, but locked
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    error = refused.json()["errors"][0]
    assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
    assert hashes.count == settings.login_max_failures  # no hash for a refused try
    [line] = [r.getMessage() for r in caplog.records if "event=login_throttled" in r.getMessage()]
    assert "handle='ALICE'" in line
    assert DEMO_PASSWORD not in line
    # Other handles are not locked.
    assert (await attempt(client, "bob", DEMO_PASSWORD)).status_code == 200


async def test_the_back_off_grows_and_a_success_resets_it(
    resources: Resources, settings: Settings
) -> None:
    throttle = resources.accounts.throttle
    locks = [await throttle.failed("carol", None) for _ in range(settings.login_max_failures + 3)]
    assert locks == [0, 0, 0, 0, 1, 2, 4, 8]
    assert 7 < await throttle.retry_after("Carol ", None) <= 8
    await throttle.succeeded("carol")
    assert await throttle.retry_after("carol", None) == 0
    assert await throttle.failed("carol", None) == 0
    assert not throttle.degraded


async def test_one_client_guessing_many_handles_is_locked(
    resources: Resources, settings: Settings
) -> None:
    throttle = resources.accounts.throttle
    for n in range(settings.login_max_failures_per_client):
        await throttle.failed(f"someone{n}", "10.9.8.7")
    assert await throttle.retry_after("anyone", "10.9.8.7") > 0
    assert await throttle.retry_after("anyone", "10.9.8.6") == 0
    # A success resets the handle, not the address.
    await throttle.succeeded("someone1")
    assert await throttle.retry_after("someone1", "10.9.8.7") > 0


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    """A Redis of this test's own, on a free loopback port (never the machine's)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is needed")
    server = RedisProcess(tmp_path, "")
    server.spawn()
    try:
        await server.answering()
        yield server
    finally:
        server.stop()


async def test_with_redis_down_the_throttle_counts_per_process(
    settings: Settings,
    own_redis: RedisProcess,
    hashes: Hashes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = own_redis
    async with serving(settings, redis_url=server.url, redis_timeout=0.5) as (app, client):
        resources: Resources = app.state.resources
        ok = await attempt(client, "dave", DEMO_PASSWORD)
        assert "token" in ok.json()["data"]["logIn"]
        server.stop()
        with caplog.at_level(logging.WARNING, logger="wren.cache.breaker"):
            for _ in range(settings.login_max_failures):
                assert code(await attempt(client, "dave")) == "UNAUTHENTICATED"
            refused = await attempt(client, "dave")
        assert resources.accounts.throttle.degraded
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "1")
        assert hashes.count == 1 + settings.login_max_failures
        warnings = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "counting failed log-ins in this process" in warnings[0]
