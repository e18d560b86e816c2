"""A PgBouncer of the tests' own, in front of the test PostgreSQL, on a free port: the one
of deploy/local.py (its configuration, started and stopped by pid)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from deploy import local
from tests.conftest import PG_BASE, free_port, require


class PgBouncer:
    """pgbouncer in transaction mode, in the foreground, in a directory of its own."""

    def __init__(self, *, server_connections: int) -> None:
        self.server_connections = server_connections
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="wren-pgbouncer-"))
        self.process: local.Process | None = None

    def url(self, database: str) -> str:
        """A SQLAlchemy URL of `database` through this pgbouncer."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Write the configuration, run pgbouncer and wait until it accepts connections."""
        require("pgbouncer")
        upstream = urlsplit(PG_BASE)
        self.process = local.pgbouncer(
            self.port,
            (upstream.hostname or "127.0.0.1", upstream.port or 5432),
            self.directory,
            self.server_connections,
        )
        self.process.start()
        self.process.wait_listening(self.port, timeout=10)

    def stop(self) -> None:
        """Stop this pgbouncer (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process is not None:
            self.process.stop(timeout=10)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
