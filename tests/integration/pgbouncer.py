"""A PgBouncer of the tests' own, in front of the test PostgreSQL, on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from deploy.local import terminate
from tests.conftest import PG_BASE, free_port


class PgBouncer:
    """pgbouncer in the foreground, configured in a directory of its own, stopped by pid."""

    def __init__(self, *, pool_mode: str, server_connections: int) -> None:
        self.pool_mode = pool_mode
        self.server_connections = server_connections
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="wren-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str) -> str:
        """A SQLAlchemy URL of `database` through this pgbouncer."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def log(self) -> str:
        """What pgbouncer wrote so far."""
        return (self.directory / "pgbouncer.log").read_text(errors="replace")

    def start(self) -> None:
        """Write the configuration, run pgbouncer and wait until it accepts connections."""
        executable = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(executable).exists():
            if os.environ.get("CI"):
                pytest.fail("pgbouncer is missing: .ci/packages lists it")
            pytest.skip("pgbouncer is needed (apt-get install pgbouncer)")
        upstream = urlsplit(PG_BASE)
        ini = self.directory / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"* = host={upstream.hostname} port={upstream.port or 5432}\n"
            "[pgbouncer]\n"
            "listen_addr = 127.0.0.1\n"
            f"listen_port = {self.port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {self.directory / 'userlist.txt'}\n"
            f"pool_mode = {self.pool_mode}\n"
            # Fewer server connections than the app's pool: consecutive transactions of
            # one client connection land on different server connections.
            f"default_pool_size = {self.server_connections}\n"
            "max_client_conn = 100\n"
            "logfile =\n"
            "pidfile =\n"
        )
        (self.directory / "userlist.txt").write_text('"postgres" ""\n')
        # pgbouncer refuses to run as root; -u makes it switch to another user, which
        # must be able to read the configuration.
        command = [executable]
        if os.geteuid() == 0:
            user = "postgres" if _user_exists("postgres") else "nobody"
            command += ["-u", user]
            self.directory.chmod(0o755)
            for path in self.directory.iterdir():
                path.chmod(0o644)
        command.append(str(ini))
        with (self.directory / "pgbouncer.log").open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.log
                    self.stop()
                    raise RuntimeError(f"pgbouncer did not start:\n{log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop this pgbouncer (SIGTERM, then SIGKILL) and remove its directory."""
        if self.process is not None:
            terminate(self.process)
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
