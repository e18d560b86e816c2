"""The application factory: FastAPI with the GraphQL endpoint; the lifespan owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import strawberry
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from wren.accounts import ANONYMOUS, Accounts
from wren.accounts.keys import Keyring
from wren.cache.client import RedisClient, create_clients
from wren.cache.marks import WriteMarks
from wren.cache.responses import ResponseCache
from wren.cache.store import CacheStore
from wren.context import Context
from wren.db.engine import Database, create_engine, replica_name
from wren.events.bus import Events
from wren.events.hub import EventHub
from wren.health import readiness
from wren.http import graphiql
from wren.http.view import GraphQLView
from wren.http.websocket import SubscriptionEndpoint
from wren.observability import Telemetry
from wren.observability.metrics import Metrics, watch
from wren.pipeline import Pipeline
from wren.schema import build_schema
from wren.settings import Settings
from wren.shutdown import STATE_KEY, CloseWhileDraining, Shutdown

log = logging.getLogger(__name__)


@dataclass
class Resources:
    """What the lifespan opened and every request shares."""

    db: Database
    redis: RedisClient
    cache: CacheStore
    events: Events
    accounts: Accounts
    # Whole answers of cacheable queries; None unless WREN_RESPONSE_CACHE is on.
    responses: ResponseCache | None = None


async def _database_url(settings: Settings, stack: AsyncExitStack) -> str:
    """The configured database, or an embedded one (migrated, seeded when empty)."""
    if settings.database_url is not None:
        return settings.database_url
    from wren.db.embedded import start_embedded

    embedded = await asyncio.to_thread(start_embedded, settings.embedded_dir)
    stack.callback(embedded.stop)
    await asyncio.to_thread(embedded.migrate)
    engine = create_engine(settings, embedded.url)
    try:
        from wren.db.seed import seed

        async with engine.connect() as conn:
            empty = (await conn.exec_driver_sql("SELECT NOT EXISTS (SELECT 1 FROM users)")).scalar()
        if empty:
            report = await seed(engine, settings.demo_users)
            log.info(
                "seeded the embedded database with %d demo users: user1 ... user%d",
                report.users,
                report.users,
            )
    finally:
        await engine.dispose()
    return embedded.url


def _redis(connection: HTTPConnection) -> RedisClient:
    resources: Resources = connection.app.state.resources
    return resources.redis


def tune_gc(threshold: int) -> None:
    """Collect cyclic garbage less often, and never rescan what start-up allocated.

    A large page allocates tens of thousands of short-lived objects that reference
    counting frees on its own; at Python's default threshold the collector still walks
    the young generation every 700 allocations, and under 32 concurrent requests that
    walk cost as much CPU as the requests themselves (Directory: 28 ms of CPU per request
    by default, 15 ms with this, the same as with no collection at all). Cycles are still
    collected, only in larger batches; a request's own objects form none (see Loaders),
    so reference counting frees them when it ends.
    """
    if threshold:
        gc.freeze()
        _, older, oldest = gc.get_threshold()
        gc.set_threshold(threshold, older, oldest)


async def _sync_every_second(metrics: Metrics) -> None:
    """Under several workers, each writes its synced values for the supervisor's scrapes."""
    while True:
        metrics.sync()
        await asyncio.sleep(1.0)


async def _observe(
    stack: AsyncExitStack, telemetry: Telemetry, resources: Resources, pipeline: Pipeline
) -> None:
    """Metrics sources and the exporters' shutdown, for the lifespan to undo."""
    stack.callback(telemetry.shutdown)
    metrics = telemetry.metrics
    if metrics is None:
        return
    watch(
        metrics,
        db=resources.db,
        store=resources.cache,
        events=resources.events,
        pipeline=pipeline,
        responses=resources.responses,
    )
    if metrics.multiprocess:
        from prometheus_client import multiprocess

        task = asyncio.get_running_loop().create_task(_sync_every_second(metrics))

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            # This worker's live gauges leave the sums; its counters stay counted.
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

        stack.push_async_callback(stop)


class WrenApp(FastAPI):
    """FastAPI, with GET, HEAD and POST /graphql sent straight to the GraphQL endpoint.

    The endpoint turns every failure into a GraphQL response itself, so FastAPI's
    middleware (error pages, exception handlers), its router and Starlette's
    request/response wrapper around an endpoint would only add cost: measured, they took
    23 % of the CPU of a `{ __typename }` and 11 % of a UserByHandle's
    (bench/results/http-path.md). Everything else
    (WebSockets, other paths, other methods and their 405) goes through FastAPI.
    """

    graphql: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch /graphql requests before FastAPI's middleware stack."""
        graphql = self.graphql
        if (
            graphql is not None
            and scope["type"] == "http"
            and scope["method"] in GRAPHQL_METHODS
            and scope["path"] in (GRAPHQL_PATH, scope.get("root_path", "") + GRAPHQL_PATH)
        ):
            scope["app"] = self
            await graphql(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


GRAPHQL_PATH = "/graphql"
GRAPHQL_METHODS = frozenset({"GET", "HEAD", "POST"})


def create_app(
    settings: Settings | None = None,
    schema: strawberry.Schema | None = None,
    telemetry: Telemetry | None = None,
) -> FastAPI:
    """A Wren application; nothing is connected until its lifespan starts.

    One schema and one pipeline serve every transport; `schema` replaces the served one
    (tests add extensions to it), `telemetry` the metrics and tracing settings give
    (tests trace into memory).
    """
    settings = settings or Settings()
    telemetry = telemetry or Telemetry(settings)
    pipeline = Pipeline(schema or build_schema(), settings, telemetry)
    keyring = Keyring.from_settings(settings)
    shutdown = Shutdown(settings.shutdown_drain)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Shutdown]]:
        async with AsyncExitStack() as stack:
            url = await _database_url(settings, stack)
            engine = create_engine(settings, url)
            stack.push_async_callback(engine.dispose)
            replicas: list[tuple[str, AsyncEngine]] = []
            for replica_url in settings.replica_urls:
                replica = create_engine(settings, replica_url)
                stack.push_async_callback(replica.dispose)
                replicas.append((replica_name(replica), replica))
            db = Database(
                engine,
                pooler=settings.database_pooler,
                replicas=replicas,
                max_lag=settings.replica_max_lag,
                telemetry=telemetry,
            )
            stack.push_async_callback(db.aclose)  # before the engines are disposed
            clients = create_clients(settings)
            stack.push_async_callback(clients.aclose)
            redis = clients.cache
            cache = CacheStore(redis, settings, telemetry)
            stack.push_async_callback(cache.aclose)
            if db.replicas is not None:
                db.marks = WriteMarks(cache, max_lag=settings.replica_max_lag)
                stack.push_async_callback(db.replicas.aclose)
                # Measured once before serving, so the first requests can use them.
                await db.replicas.check()
            hub = EventHub(clients.listener)
            stack.push_async_callback(hub.aclose)
            events = Events(prefix=settings.events_channel_prefix, store=cache, hub=hub)
            tune_gc(settings.gc_threshold)
            # The primary's reads: a session just opened must not be looked for on a replica.
            accounts = Accounts(settings, db, redis, keyring)
            stack.callback(accounts.close)
            resources = Resources(
                db=db,
                redis=redis,
                cache=cache,
                events=events,
                accounts=accounts,
                responses=ResponseCache(cache, settings) if settings.response_cache else None,
            )
            await _observe(stack, telemetry, resources, pipeline)
            app.state.resources = resources
            # For the server (wren.shutdown.GracefulServer): what SIGTERM drains.
            yield {STATE_KEY: shutdown}

    async def context(connection: HTTPConnection) -> Context:
        """A request's context, or a WebSocket connection's (its handshake's headers)."""
        resources: Resources = connection.app.state.resources
        authorization = connection.headers.get("authorization")
        # Most requests carry no token: no coroutine to learn that they are anonymous.
        credentials = (
            ANONYMOUS
            if authorization is None
            else await resources.accounts.authenticate(authorization)
        )
        return Context(
            settings=settings,
            db=resources.db,
            store=resources.cache,
            accounts=resources.accounts,
            viewer_id=credentials.viewer_id,
            claims=credentials.claims,
            auth_error=credentials.error,
            events=resources.events,
            responses=resources.responses,
        )

    app = WrenApp(title="Wren", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(CloseWhileDraining, shutdown=shutdown)
    app.state.settings = settings
    app.state.pipeline = pipeline
    app.state.telemetry = telemetry
    app.state.shutdown = shutdown
    view = GraphQLView(pipeline, settings, context, _redis, shutdown)
    # GET, HEAD and POST go straight to the view (WrenApp), which closes connections
    # while draining itself; the route gives the other methods the router's 405 with
    # its Allow header.
    app.graphql = view
    app.router.routes.append(Route("/graphql", view, methods=["GET", "POST"]))
    # An ASGI app, not an endpoint function: Strawberry speaks the protocols itself.
    subscriptions = SubscriptionEndpoint(pipeline, settings, context, _redis)
    # Closed with 1001 when the instance shuts down, so that clients reconnect elsewhere.
    app.router.routes.append(WebSocketRoute("/graphql", shutdown.going_away(subscriptions)))

    if settings.graphiql_enabled:
        # GraphiQL's scripts and styles, from Wren itself (src/wren/http/graphiql.py).
        app.router.routes.append(graphiql.assets_route())

    @app.get("/.well-known/jwks.json", include_in_schema=False)
    async def jwks() -> JSONResponse:
        """The public keys that verify Wren's access tokens (RFC 7517 JWK Set)."""
        return JSONResponse(keyring.jwks(), headers={"cache-control": "public, max-age=300"})

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        """Readiness: the database answers (Redis down is ready, degraded)."""
        resources: Resources = app.state.resources
        status, body = await readiness(resources.db, resources.redis, draining=shutdown.draining)
        return JSONResponse(body, status_code=status, headers={"cache-control": "no-store"})

    return app
