"""Fixtures of the HTTP tests: apps with other settings, a live server, the Node clients."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis import Redis

from tests.conftest import free_port
from tests.integration import world
from wren.app import create_app
from wren.settings import Settings

NODE_DIR = Path(__file__).resolve().parent.parent / "node"


@asynccontextmanager
async def serving(
    settings: Settings, **overrides: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with some settings changed, its lifespan running, and a client for it."""
    # A small pool: PostgreSQL's connections are shared with the session's app and others.
    changed = Settings(_env_file=None, **{**settings.model_dump(), "pool_size": 4, **overrides})  # type: ignore[call-arg]
    application = create_app(changed)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://wren.test") as http:
            yield application, http


def fragments_bomb(levels: int, leaf: str = "handle") -> str:
    """Fragments F0 ... F{levels} on User, each spreading the next twice: spreading F0
    selects `leaf` 2^levels times once expanded, in a document of `levels` lines."""
    spreads = "".join(
        f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels)
    )
    return f"{spreads}fragment F{levels} on User {{ {leaf} }}\n"


@pytest.fixture
async def small_world(database_url: str) -> None:
    """The hand-made world of tests/integration/world.py, in the database."""
    await world.build(database_url)


@pytest.fixture(scope="session", autouse=True)
def _drop_persisted_documents(settings: Settings) -> Iterator[None]:
    """Remove this run's persisted and trusted documents from the shared Redis."""
    yield
    redis = Redis.from_url(settings.redis_url or "")
    try:
        keys = list(redis.scan_iter(match=f"{settings.persisted_key_prefix}*", count=1000))
        if keys:
            redis.delete(*keys)
    finally:
        redis.close()


@contextmanager
def live_server(settings: Settings, **environment: str) -> Iterator[str]:
    """The /graphql URL of the app served by uvicorn in a process of its own, with the
    HTTP protocol `wren serve` runs (wren.http.protocol)."""
    port = free_port()
    env = {
        **os.environ,
        "WREN_DATABASE_URL": settings.database_url or "",
        "WREN_REDIS_URL": settings.redis_url or "",
        # The run's own keys: log-in throttles, caches and locks of other runs on the
        # shared Redis (earlier suites, benchmarks, a development server) never reach it.
        "WREN_CACHE_NAMESPACE": settings.cache_namespace,
        "WREN_PERSISTED_PREFIX": settings.persisted_key_prefix,
        "WREN_PERSISTED_QUERY_TTL": str(settings.persisted_query_ttl),
        "WREN_POOL_SIZE": "8",
        **environment,
    }
    command = [
        sys.executable, "-m", "uvicorn", "wren.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--http", "wren.http.protocol:HttpProtocol",
    ]  # fmt: skip
    server = subprocess.Popen(command, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("the live server did not start")
            time.sleep(0.2)
        yield f"{base}/graphql"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def live_url(settings: Settings) -> Iterator[str]:
    """A live server with the test settings."""
    with live_server(settings) as url:
        yield url


@pytest.fixture(scope="session")
def node() -> Path:
    """The Node test package, its pinned dependencies installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the client tests")
    # Installed again when package.json names a package that node_modules lacks (one
    # added since the last install).
    wanted = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    if not all((NODE_DIR / "node_modules" / name / "package.json").is_file() for name in wanted):
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300
        )
    return NODE_DIR
