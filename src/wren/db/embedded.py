"""The embedded PostgreSQL (pgserver) used when no database URL is configured.

Its own output (initdb, pg_ctl and their command lines, Alembic's migration lines) goes to
a log file beside the data directory, named in the one line the start logs: a first start
prints a handful of lines, not a hundred.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def log_path(data_dir: Path) -> Path:
    """The embedded database's log: beside its data directory (initdb wants that empty)."""
    return data_dir.with_name(f"{data_dir.name}.log")


def _file_handler(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    return handler


def _send_to(handler: logging.Handler, logger: logging.Logger) -> None:
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@contextmanager
def _logging_to(path: Path, name: str) -> Iterator[None]:
    """Send a logger's records to `path` only, for the duration."""
    handler = _file_handler(path)
    logger = logging.getLogger(name)
    level, propagate = logger.level, logger.propagate
    _send_to(handler, logger)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
        handler.close()


@dataclass
class EmbeddedPostgres:
    """A running pgserver instance, the URL that reaches it, and its log file."""

    server: Any
    url: str
    log: Path

    def migrate(self) -> None:
        """Apply the migrations (blocking); Alembic's lines go to the log."""
        with _logging_to(self.log, "alembic"):
            # Imported here: Alembic logs as it loads its plugins.
            from wren.db.migrate import migrate

            migrate(self.url)

    def stop(self) -> None:
        """Stop the server (uvicorn re-raises SIGTERM, so atexit hooks never run)."""
        log.info("stopping the embedded PostgreSQL")
        self.server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) the embedded PostgreSQL in `data_dir`.

    Run as root, pgserver creates a system user and adds o+rx to every parent of the data
    directory, which is why the default lives under /var/tmp and never in a home directory.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = log_path(data_dir)
    # For the rest of the process: pgserver logs again when it stops the server, and once
    # more from its exit hook.
    _send_to(_file_handler(path), logging.getLogger("pgserver"))
    with warnings.catch_warnings():
        # pgserver keeps its lock file in the user's runtime directory and falls back to
        # /tmp/runtime-<uid> where XDG_RUNTIME_DIR is unset (as for root in a container);
        # platformdirs warns about that fallback, which is fine here.
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        # Imported here: heavy, and only needed when no database is configured.
        from pgserver import get_server  # type: ignore[attr-defined]

        try:
            server = get_server(data_dir, cleanup_mode="stop")
        except Exception:
            log.error("the embedded PostgreSQL in %s did not start: see %s", data_dir, path)
            raise
    uri: str = server.get_uri()
    url = uri.replace("postgresql://", "postgresql+asyncpg://", 1)
    log.warning(
        "WREN_DATABASE_URL is not set: serving from an embedded PostgreSQL in %s (its log: %s;"
        " fine for trying Wren, set WREN_DATABASE_URL for production)",
        data_dir,
        path,
    )
    return EmbeddedPostgres(server=server, url=url, log=path)
