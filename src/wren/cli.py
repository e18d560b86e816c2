"""The `wren` command: serve, migrate, seed, export-schema, persist, jwt-key."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging.config
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from wren.settings import Settings

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

cli = typer.Typer(
    help="Wren, a GraphQL API for a social publishing platform.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise typer.BadParameter("set WREN_DATABASE_URL (postgresql://user@host:5432/db)")
    return settings.database_url


@cli.command("jwt-key")
def jwt_key(
    kid: Annotated[str, typer.Argument(help="The key's id (a date, say: 2026-12).")],
    algorithm: Annotated[
        str, typer.Option("--alg", help="EdDSA (Ed25519), ES256 (P-256) or HS256.")
    ] = "EdDSA",
    verify_only: Annotated[
        bool, typer.Option(help="Mark it accepted but not signing (key_ops: verify).")
    ] = False,
) -> None:
    """Print a new private signing key as a JWK, for WREN_JWT_KEYS or WREN_JWT_KEYS_DIR."""
    import json

    from wren.accounts.keys import KeyringError, generate

    try:
        typer.echo(json.dumps(generate(kid, algorithm, verify_only=verify_only)))
    except KeyringError as error:
        raise typer.BadParameter(str(error)) from None


def _multiprocess_metrics() -> None:
    """Point prometheus-client's multiprocess mode at an empty directory (before any worker
    starts): PROMETHEUS_MULTIPROC_DIR emptied of old values, or a temporary one."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return
    temporary = tempfile.mkdtemp(prefix="wren-metrics-")
    atexit.register(shutil.rmtree, temporary, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = temporary


def _serve_metrics(settings: Settings, registry: CollectorRegistry | None) -> None:
    """Serve /metrics on WREN_METRICS_PORT from this process (a thread), apart from the API:
    the app's own registry, or every worker's values (multiprocess mode)."""
    from prometheus_client import start_http_server

    if registry is None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    assert settings.metrics_port is not None
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    logging.getLogger("wren").info(
        "metrics: http://%s:%d/metrics", settings.metrics_host, settings.metrics_port
    )


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (WREN_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (WREN_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (WREN_WORKERS).")] = None,
) -> None:
    """Serve the API (GraphiQL at /graphql); an embedded database when none is configured."""
    import uvicorn

    settings = Settings()
    workers = workers or settings.workers
    if workers > 1 and settings.database_url is None:
        raise typer.BadParameter(
            "several workers need WREN_DATABASE_URL (the embedded one is single-process)"
        )
    from wren.observability.logs import logging_config

    log_config = logging_config(settings)
    logging.config.dictConfig(log_config)
    metrics = settings.metrics_port is not None
    if metrics and (workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR")):
        _multiprocess_metrics()
    from wren.http.protocol import HttpProtocol

    # uvloop and httptools explicitly (uvicorn's "auto" silently falls back to the pure
    # Python loop and parser when they are missing), httptools' protocol with Wren's
    # cheaper response (wren.http.protocol); no access log line per request in production.
    options = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level,
        "proxy_headers": True,
        "loop": "uvloop",
        "http": HttpProtocol,
        # Subscriptions: the websockets package's current (sans-I/O) implementation.
        "ws": "websockets-sansio",
        # A WebSocket message holds what an HTTP body holds: the same bound (uvicorn's
        # default is 16 MiB), larger messages close the connection (1009).
        "ws_max_size": settings.max_body_bytes,
        # Wren's own access line (WREN_ACCESS_LOG) replaces uvicorn's.
        "access_log": not settings.production and not settings.access_log,
        "log_config": log_config,
        # After SIGTERM (and WREN_SHUTDOWN_DRAIN): how long requests in flight may take.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if workers > 1:
        # Each worker opens its own pool: split the connection budget between them.
        per_worker = max(1, settings.max_connections // workers)
        if settings.pool_size + settings.max_overflow > per_worker:
            os.environ["WREN_POOL_SIZE"] = str(max(1, per_worker - settings.max_overflow))
            os.environ["WREN_MAX_OVERFLOW"] = str(min(settings.max_overflow, per_worker - 1))
        if metrics:
            _serve_metrics(settings, None)
        from wren import supervisor

        # What uvicorn.run does with workers, with workers that drain (wren.supervisor).
        config = uvicorn.Config(
            "wren.app:create_app",
            factory=True,
            workers=workers,
            # A worker answers the supervisor's pings once it has imported the app, which
            # takes more than uvicorn's 5 s on a busy machine: it would be killed and
            # spawned again, over and over.
            timeout_worker_healthcheck=supervisor.WORKER_HEALTHCHECK,
            **options,  # type: ignore[arg-type]
        )
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run(config, settings.shutdown_drain)
    else:
        from wren.app import create_app
        from wren.welcome import WelcomingServer

        app = create_app(settings)
        recorded = app.state.telemetry.metrics
        if recorded is not None:
            # One process: its own registry (in multiprocess mode, its files).
            _serve_metrics(settings, None if recorded.multiprocess else recorded.registry)
        config = uvicorn.Config(app, **options)  # type: ignore[arg-type]
        server = WelcomingServer(config, settings)
        with contextlib.suppress(KeyboardInterrupt):
            server.run()
        if not server.started:
            # What uvicorn.run does when the application did not start.
            raise typer.Exit(3)


@cli.command()
def migrate() -> None:
    """Apply the database migrations (WREN_DATABASE_URL)."""
    from wren.db.migrate import migrate as run

    run(_database_url(Settings()))
    typer.echo("database is at the latest revision")


@cli.command()
def seed(
    users: Annotated[int, typer.Option(min=1, help="How many users to create.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same data.")] = 0,
    replace: Annotated[bool, typer.Option(help="Empty the tables first.")] = False,
) -> None:
    """Create deterministic demo data: per user ~10 posts, 30 comments, 20 follows, 100 likes."""
    from wren.db.engine import create_engine
    from wren.db.seed import seed as run

    settings = Settings()

    async def go() -> None:
        engine = create_engine(settings, _database_url(settings))
        try:
            report = await run(engine, users, seed, replace=replace)
        finally:
            await engine.dispose()
        if settings.redis_configured:
            await _drop_cache(settings)
        typer.echo(
            f"{report.users:,} users, {report.posts:,} posts, {report.comments:,} comments, "
            f"{report.follows:,} follows, {report.likes:,} likes in {report.seconds:.1f} s"
        )

    try:
        asyncio.run(go())
    except RuntimeError as error:
        raise typer.BadParameter(str(error)) from None


async def _drop_cache(settings: Settings) -> None:
    """Every cached entry describes rows that may be gone now."""
    from wren.cache.client import create_clients
    from wren.cache.store import CacheStore

    clients = create_clients(settings)
    store = CacheStore(clients.cache, settings)
    try:
        if not await store.bump_epoch():
            typer.echo("could not reach Redis to drop the cache", err=True)
    finally:
        await store.aclose()
        await clients.aclose()


@cli.command("export-schema")
def export_schema(
    path: Annotated[Path, typer.Argument(help="Where to write the SDL.")] = Path("schema.graphql"),
) -> None:
    """Write the served schema's SDL (committed as schema.graphql)."""
    from wren.schema import build_schema, sdl

    path.write_text(sdl(build_schema()))
    typer.echo(f"wrote {path}")


@cli.command()
def persist(
    directory: Annotated[
        Path,
        typer.Argument(help="Folder of .graphql files to register.", exists=True, file_okay=False),
    ],
) -> None:
    """Register .graphql files as trusted documents (run alone with WREN_TRUSTED_DOCUMENTS)."""
    from wren.cache.client import create_clients
    from wren.pipeline.trusted import read_documents, register

    settings = Settings()
    if not settings.redis_configured:
        raise typer.BadParameter(
            "set WREN_REDIS_URL (or WREN_REDIS_SENTINELS): trusted documents are kept in Redis"
        )
    # Registering is not serving: a slow Redis may take its time.
    settings = settings.model_copy(update={"redis_timeout": max(settings.redis_timeout, 10.0)})
    files = read_documents(directory)

    async def go() -> None:
        clients = create_clients(settings)
        try:
            report = await register(settings, clients.cache, files)
        finally:
            await clients.aclose()
        for path, hashes in report.registered.items():
            typer.echo(f"registered {path}: {', '.join(hashes)}")
        for path, messages in report.refused.items():
            typer.echo(f"refused {path}: {' '.join(messages)}", err=True)
        typer.echo(f"{len(report.registered)} registered, {len(report.refused)} refused")
        if report.refused:
            raise typer.Exit(1)

    asyncio.run(go())


def main() -> None:
    """Entry point of the console script."""
    cli()
