"""Rate limits by cost: a token bucket per viewer or address, shared through Redis."""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from tests.conftest import drop_keys, free_port, operation
from tests.http.conftest import serving
from tests.http.test_metrics import registry_of, value
from wren.settings import Settings

TIMELINE = {"query": operation("Timeline"), "variables": {"first": 2}}
SIGN_UP = "mutation($input: SignUpInput!) { signUp(input: $input) { token } }"
_fresh = itertools.count()
_used: list[str] = []


@pytest.fixture(autouse=True)
async def _drop_namespaces(settings: Settings) -> AsyncIterator[None]:
    """Each test's buckets and cache keys live in namespaces of its own, dropped after."""
    yield
    while _used:
        await drop_keys(settings.redis_url or "", _used.pop())


def limited(settings: Settings, points: int, **overrides: Any) -> dict[str, Any]:
    """Overrides giving a rate limit of `points` per minute in a namespace of its own."""
    namespace = f"{settings.cache_namespace}.rl{next(_fresh)}"
    _used.append(namespace)
    return {"rate_limit_points": points, "cache_namespace": namespace, **overrides}


def cost(response: httpx.Response) -> int:
    value: int = response.json()["extensions"]["cost"]["estimated"]
    return value


async def test_every_response_says_what_is_left(settings: Settings) -> None:
    async with serving(settings, **limited(settings, 1000)) as (_, http):
        first = await http.post("/graphql", json=TIMELINE)
        spent = cost(first)
        assert spent > 1
        assert first.headers["ratelimit-limit"] == "1000"
        assert first.headers["ratelimit-remaining"] == str(1000 - spent)
        assert 0 < int(first.headers["ratelimit-reset"]) <= 60
        status = first.json()["extensions"]["cost"]["throttleStatus"]
        assert status["maximumAvailable"] == 1000
        assert status["currentlyAvailable"] == 1000 - spent
        assert status["restoreRate"] == pytest.approx(1000 / 60)
        second = await http.post("/graphql", json=TIMELINE)
        # Restored meanwhile at 16.7 points per second: at least as much as the first left.
        remaining = int(second.headers["ratelimit-remaining"])
        assert 1000 - 2 * spent <= remaining < 1000 - spent + 5


async def test_an_exhausted_budget_is_429_before_any_sql(settings: Settings) -> None:
    # 100 points restored at 0.001 per second: Timelines until the budget runs out.
    overrides = limited(settings, 100, rate_limit_window=100_000)
    async with serving(settings, **overrides) as (app, http):
        first = await http.post("/graphql", json=TIMELINE)
        assert first.status_code == 200
        fits = 100 // cost(first)
        for _ in range(fits - 1):
            assert (await http.post("/graphql", json=TIMELINE)).status_code == 200
        statements: list[str] = []

        def record(statement: str, _parameters: Sequence[Any]) -> None:
            statements.append(statement)

        with app.state.resources.db.watching(record):
            refused = await http.post(
                "/graphql",
                json=TIMELINE,
                headers={"accept": "application/graphql-response+json"},
            )
        assert refused.status_code == 429
        [error] = refused.json()["errors"]
        # The shape of a throttled log-in's refusal: the same seconds as Retry-After.
        retry_after = int(refused.headers["retry-after"])
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": retry_after}
        assert "data" not in refused.json()
        assert retry_after > 1
        assert refused.headers["ratelimit-limit"] == "100"
        assert int(refused.headers["ratelimit-remaining"]) < cost(first)
        assert statements == []
        # A cheap operation that still fits runs: `{ __typename }` costs 1.
        cheap = await http.post("/graphql", json={"query": "{ __typename }"})
        assert cheap.status_code == 200


async def test_a_rate_limited_request_is_counted_as_refused_by_its_limit(
    settings: Settings,
) -> None:
    overrides = limited(settings, 3, rate_limit_window=100_000, metrics_port=free_port())
    async with serving(settings, **overrides) as (app, http):
        refused = await http.post("/graphql", json=TIMELINE)
        assert refused.status_code == 429  # (a Timeline costs more than 3 points)
        registry = registry_of(app)
        assert value(registry, "wren_requests_refused_total", limit="RATE_LIMITED") == 1
        assert value(registry, "wren_graphql_errors_total", code="RATE_LIMITED") == 1


async def test_viewers_and_addresses_have_budgets_of_their_own(
    settings: Settings, database_url: str
) -> None:
    async with serving(settings, **limited(settings, 50, rate_limit_window=1000)) as (_, http):
        account = {"handle": "limited", "displayName": "L", "password": "a-long-password"}
        signed_up = await http.post(
            "/graphql", json={"query": SIGN_UP, "variables": {"input": account}}
        )
        token = signed_up.json()["data"]["signUp"]["token"]
        anonymous = int(signed_up.headers["ratelimit-remaining"])
        viewer = await http.post(
            "/graphql",
            json={"query": "{ rateLimit { limit cost remaining used } }"},
            headers={"authorization": f"Bearer {token}"},
        )
        # The viewer's budget is untouched by the anonymous sign-up.
        assert viewer.json()["data"]["rateLimit"] == {
            "limit": 50,
            "cost": 1,
            "remaining": 49,
            "used": 1,
        }
        assert anonymous <= 49


async def test_the_budget_is_shared_by_every_process(settings: Settings) -> None:
    overrides = limited(settings, 20, rate_limit_window=1000)
    async with (
        serving(settings, **overrides) as (_, one),
        serving(settings, **overrides) as (_, other),
    ):
        clients = itertools.islice(itertools.cycle([one, other]), 6)
        for spent, http in enumerate(clients, start=1):
            response = await http.post("/graphql", json={"query": "{ rateLimit { remaining } }"})
            assert response.json()["data"]["rateLimit"]["remaining"] == 20 - spent


async def test_without_redis_it_fails_open_and_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    overrides = limited(settings, 5, redis_url=nowhere)
    with caplog.at_level(logging.WARNING, logger="wren.cache.breaker"):
        async with serving(settings, **overrides) as (_, http):
            for _ in range(3):
                response = await http.post("/graphql", json={"query": "{ rateLimit { limit } }"})
                assert response.status_code == 200
                assert response.json()["data"] == {"rateLimit": None}
                assert "ratelimit-limit" not in response.headers
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("rate limits")]
    assert len(said) == 1, said
    assert "requests run unlimited" in said[0]


async def test_failing_closed_refuses_with_503(settings: Settings) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    overrides = limited(settings, 5, redis_url=nowhere, rate_limit_fail_closed=True)
    async with serving(settings, **overrides) as (_, http):
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 503
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert response.headers["retry-after"]
