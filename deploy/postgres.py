"""A PostgreSQL primary and a streaming replica of our own, in a directory of their own
(for tests/integration/test_replicas.py, bench/replicas.py and `scripts/cluster`).

The primary is a fresh cluster (initdb, wal_level=replica) on a free loopback port; the
replica is a copy of it made with `pg_basebackup -R` (it streams from the primary) on
another. Both are run with pg_ctl on their own data directories and stopped the same
way, or by their postmasters' pids; nothing outside the directory changes (the machine's
own PostgreSQL is never touched). As root, the PostgreSQL tools run as the `postgres`
user (they refuse to run as root).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from deploy.local import ToolsMissing, free_port

# Small and fast: a handful of connections per app instance, no fsync (throwaway data).
_SETTINGS = """
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 4
max_connections = 60
shared_buffers = 16MB
fsync = off
synchronous_commit = on
full_page_writes = off
hot_standby = on
log_min_messages = warning
"""


def _bindir() -> Path:
    """Where initdb, pg_ctl and pg_basebackup are: the newest /usr/lib/postgresql/*/bin."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise ToolsMissing("initdb is needed (apt-get install postgresql)")
    return Path(found[-1]).parent


class StreamingPair:
    """Primary and replica clusters under one directory (a temporary one by default),
    started and stopped here."""

    def __init__(self, directory: Path | None = None) -> None:
        self.bin = _bindir()
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="wren-replica-"))
        else:
            directory.mkdir(parents=True)
        self.directory = directory
        self.primary_port = free_port()
        self.replica_port = free_port()
        self.primary_dir = self.directory / "primary"
        self.replica_dir = self.directory / "replica"
        self._user = "postgres" if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._user is not None:
            command = ["runuser", "-u", self._user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def url(self, port: int, database: str = "postgres", *, driver: str = "asyncpg") -> str:
        """A URL of `database` on the server at `port` (SQLAlchemy's form by default)."""
        scheme = "postgresql+asyncpg" if driver == "asyncpg" else "postgresql"
        return f"{scheme}://postgres@127.0.0.1:{port}/{database}"

    def start(self) -> None:
        """Create and start both clusters; the replica is streaming when this returns."""
        if self._user is not None:
            owner = pwd.getpwnam(self._user)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb", "-D", str(self.primary_dir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS + f"port = {self.primary_port}\n")
        self._pg_ctl(self.primary_dir, "start")
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
            "-D", str(self.replica_dir), "-R", "-X", "stream", "--no-sync",
        )  # fmt: skip
        with (self.replica_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\n")
        self.start_replica()

    def _pg_ctl(self, data: Path, action: str, *extra: str) -> None:
        log = self.directory / f"{data.name}.log"
        result = self._run(
            "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", action, *extra,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"pg_ctl {action} {data.name} failed: {result.stderr}\n{text}")

    def start_replica(self) -> None:
        """Start the replica (again) and wait until it accepts connections."""
        self._pg_ctl(self.replica_dir, "start")

    def stop_replica(self) -> None:
        """Stop the replica now (fast shutdown: its connections are closed)."""
        self._pg_ctl(self.replica_dir, "stop", "-m", "fast")

    def pids(self) -> dict[str, int]:
        """The postmasters' pids, by role (the first line of each postmaster.pid)."""
        found = {}
        for role, data in (("primary", self.primary_dir), ("replica", self.replica_dir)):
            pid_file = data / "postmaster.pid"
            if pid_file.exists():
                found[role] = int(pid_file.read_text().split("\n", 1)[0])
        return found

    def replica_running(self) -> bool:
        """Whether the replica's postmaster runs."""
        result = self._run("pg_ctl", "-D", str(self.replica_dir), "status", check=False)
        return result.returncode == 0

    def stop(self) -> None:
        """Stop both clusters (only these: by their data directories) and remove them."""
        for data in (self.replica_dir, self.primary_dir):
            if (data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(data), "stop", "-m", "immediate", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    async def _on(self, port: int, sql: str, database: str = "postgres") -> object:
        conn = await asyncpg.connect(self.url(port, database, driver="libpq"))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def primary(self, sql: str, database: str = "postgres") -> object:
        """One value of `sql` on the primary."""
        return await self._on(self.primary_port, sql, database)

    async def replica(self, sql: str, database: str = "postgres") -> object:
        """One value of `sql` on the replica."""
        return await self._on(self.replica_port, sql, database)

    async def pause_replay(self) -> None:
        """Stop applying WAL on the replica (it keeps receiving it)."""
        await self.replica("SELECT pg_wal_replay_pause()")
        for _ in range(1000):
            if await self.replica("SELECT pg_get_wal_replay_pause_state()") == "paused":
                return
            await asyncio.sleep(0.01)
        raise TimeoutError("the replica's replay did not pause")

    async def resume_replay(self) -> None:
        """Apply WAL again."""
        await self.replica("SELECT pg_wal_replay_resume()")

    async def caught_up(self, within: float = 30.0) -> None:
        """Wait until the replica has replayed everything the primary has written."""
        target = await self.primary("SELECT pg_current_wal_lsn()::text")
        deadline = time.monotonic() + within
        while True:
            done = await self.replica(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")
            if done:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the replica did not replay up to {target}")
            await asyncio.sleep(0.02)
