"""The servers under test: what each runs, where it is pinned, and starting and stopping it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.paths import CONTRACT_OPS, PEERS, ROOT, VENV

# The reference servers of `--peers`: name, port, their operation documents, URL scheme.
PEER_SERVERS = (
    ("postgraphile", 5678, PEERS / "peers" / "postgraphile" / "operations", "postgresql://"),
    ("naive_strawberry", 5679, CONTRACT_OPS / "operations", "postgresql+asyncpg://"),
    ("floor", 5680, CONTRACT_OPS / "operations", "postgresql://"),
)

# Wren with WREN_RESPONSE_CACHE on: measured only when --servers names it.
RESPONSE_CACHE_SERVER = "wren-rc"


@dataclass(frozen=True)
class ServerSpec:
    """One server to measure: its command, port, CPUs and operation documents."""

    name: str
    cmd: list[str]
    port: int
    cpus: str
    ops: Path
    workers: int = 1
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    url_scheme: str = "postgresql://"

    @property
    def url(self) -> str:
        """Its GraphQL endpoint."""
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def is_wren(self) -> bool:
        """Whether this is Wren (any worker count) rather than a peer."""
        return self.name.startswith("wren")

    def environment(self, database_url: str) -> dict[str, str]:
        """Its environment: ours, its own settings and the database URL."""
        env = {**os.environ, **self.env, "BENCH_DATABASE_URL": database_url}
        # PostGraphile and the floor read DATABASE_URL; the naive app hands it to SQLAlchemy.
        env["DATABASE_URL"] = database_url.replace("postgresql://", self.url_scheme)
        if self.is_wren:
            env["WREN_DATABASE_URL"] = database_url
        return env


def server_specs(
    workers: list[int],
    peers: bool,
    redis_url: str,
    jwt_secret: str | None = None,
    baseline: Path | None = None,
    response_cache: bool = False,
) -> list[ServerSpec]:
    """The servers to measure: Wren per worker count (and a baseline checkout's, one
    worker, right after this one's; and `wren-rc`, one worker with the response cache,
    when asked), then the peers when asked."""
    secret = jwt_secret or os.environ.get("WREN_JWT_SECRET") or secrets.token_urlsafe(32)
    out = [
        ServerSpec(
            name="wren" if n == 1 else f"wren-{n}w",
            cmd=[str(VENV / "wren"), "serve", "--port", "8000", "--workers", str(n)],
            port=8000,
            workers=n,
            # N workers on CPUs 0..N-1; wrk has the last CPU.
            cpus=",".join(str(c) for c in range(n)),
            env={
                "WREN_ENVIRONMENT": "production",
                "WREN_LOG_LEVEL": "warning",
                "WREN_REDIS_URL": redis_url,
                # Production refuses the development signing key; one key per run keeps
                # the Feed token valid across the server's restarts.
                "WREN_JWT_SECRET": secret,
                # The Feed token is taken once per server and used for the whole run,
                # which can outlast the default 15 minutes of an access token.
                "WREN_JWT_TTL": "7200",
            },
            ops=CONTRACT_OPS / "operations",
        )
        for n in workers
    ]
    if baseline is not None:
        ours = out[0]
        base = baseline.resolve()
        out.insert(
            1,
            ServerSpec(
                name="wren@base",
                cmd=[str(base / ".venv" / "bin" / "wren"), "serve", "--port", "8000"],
                port=ours.port,
                cpus=ours.cpus,
                env=ours.env,
                ops=ours.ops,
                cwd=base,
            ),
        )
    if response_cache:
        ours = out[0]
        out.append(
            ServerSpec(
                name=RESPONSE_CACHE_SERVER,
                cmd=[str(VENV / "wren"), "serve", "--port", "8000"],
                port=ours.port,
                cpus=ours.cpus,
                env={**ours.env, "WREN_RESPONSE_CACHE": "true"},
                ops=ours.ops,
            )
        )
    if peers:
        out += [
            ServerSpec(
                name=name,
                cmd=[str(PEERS / "peers" / name / "start.sh")],
                port=port,
                cpus="0",
                ops=ops,
                cwd=PEERS,
                url_scheme=scheme,
            )
            for name, port, ops, scheme in PEER_SERVERS
        ]
    return out


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Server:
    """One server under test, started in its own process group."""

    def __init__(self, spec: ServerSpec, log: Path) -> None:
        self.spec = spec
        self.log = log.open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pgid(self) -> int:
        """Its process group (the one it was started as the leader of)."""
        assert self.proc is not None
        return self.proc.pid

    def start(self, database_url: str) -> None:
        """Start pinned to its CPUs and wait until it listens."""
        if port_open(self.spec.port):
            raise RuntimeError(f"port {self.spec.port} is already taken")
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.spec.cpus, *self.spec.cmd],
            cwd=self.spec.cwd,
            env=self.spec.environment(database_url),
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited; see {self.log.name}")
            if port_open(self.spec.port):
                # Several workers: the first listens before the others have started.
                time.sleep(0.5 if self.spec.workers > 1 else 0)
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.spec.name} did not listen within 90 s")

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL after 15 s; close our end of the log."""
        try:
            if self.proc is None or self.proc.poll() is not None:
                return
            os.killpg(self.pgid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.pgid, signal.SIGKILL)
                self.proc.wait()
        finally:
            self.log.close()
