"""The embedded PostgreSQL (pgserver) used when no database URL is configured."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    """A running pgserver instance and the URL that reaches it."""

    server: Any
    url: str

    def stop(self) -> None:
        """Stop the server (uvicorn re-raises SIGTERM, so atexit hooks never run)."""
        log.info("stopping the embedded PostgreSQL")
        self.server.cleanup()


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (initialising on first use) the embedded PostgreSQL in `data_dir`.

    Run as root, pgserver creates a system user and adds o+rx to every parent of the data
    directory, which is why the default lives under /var/tmp and never in a home directory.
    """
    # Imported here: heavy, and only needed when no database is configured.
    from pgserver import get_server  # type: ignore[attr-defined]

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="stop")
    uri: str = server.get_uri()
    url = uri.replace("postgresql://", "postgresql+asyncpg://", 1)
    log.warning(
        "WREN_DATABASE_URL is not set: serving from an embedded PostgreSQL in %s "
        "(fine for trying Wren; set WREN_DATABASE_URL for production)",
        data_dir,
    )
    return EmbeddedPostgres(server=server, url=url)
