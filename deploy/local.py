"""Wren beyond one process, on one machine: instances of `wren serve` behind HAProxy.

What the tests (tests/cluster/), the benchmark (`bench/run.py --instances`) and
`scripts/cluster` share: free loopback ports, HAProxy's configuration (round robin over
the instances, each checked on /readyz), PgBouncer's, and processes started in a run
directory of their own, each stopped by its pid and by nothing broader.

Why HAProxy's settings are what they are (see also wren.shutdown):

- `option httpchk` + `http-check send meth GET uri /readyz`, every `CHECK_INTER` with
  `fall 2`: an instance that starts draining is out within about 2 x CHECK_INTER plus one
  check's time, so WREN_SHUTDOWN_DRAIN must exceed that (`drain_needed`); `rise 2` puts a
  restarted one back once it answered twice.
- `retries 3` + `option redispatch 1`: a connection refused (an instance that stopped
  listening before its health check failed, or one starting) is tried again on another
  server; the request had not been sent, so any request may be retried so.
- `timeout tunnel`: a WebSocket lives as long as its client keeps it, not `timeout server`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# How often HAProxy checks each instance's /readyz, in milliseconds.
CHECK_INTER_MS = 500
CHECK_FALL = 2
CHECK_RISE = 2
CHECK_TIMEOUT_MS = 1000


def drain_needed() -> float:
    """The least WREN_SHUTDOWN_DRAIN with which HAProxy has taken an instance out in time."""
    return (CHECK_FALL * CHECK_INTER_MS + CHECK_TIMEOUT_MS) / 1000


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def haproxy_config(port: int, servers: Mapping[str, int], stats_socket: Path) -> str:
    """HAProxy's configuration: one frontend on `port`, round robin over `servers`."""
    lines = [
        "global",
        "    maxconn 2000",
        f"    stats socket {stats_socket} mode 600 level admin",
        "    log stdout format raw local0 info",
        "",
        "defaults",
        "    mode http",
        "    log global",
        "    option httplog",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout tunnel 1h",
        f"    timeout check {CHECK_TIMEOUT_MS}ms",
        "    retries 3",
        "    option redispatch 1",
        "",
        "frontend wren",
        f"    bind 127.0.0.1:{port}",
        "    default_backend instances",
        "",
        "backend instances",
        "    balance roundrobin",
        "    option httpchk",
        "    http-check send meth GET uri /readyz",
        "    http-check expect status 200",
        f"    default-server inter {CHECK_INTER_MS}ms fall {CHECK_FALL} rise {CHECK_RISE}",
        *(f"    server {name} 127.0.0.1:{p} check" for name, p in servers.items()),
        "",
    ]
    return "\n".join(lines)


def pgbouncer_config(
    port: int, upstream_host: str, upstream_port: int, directory: Path, server_connections: int
) -> str:
    """PgBouncer in transaction mode in front of one PostgreSQL, trusting local clients."""
    return (
        "[databases]\n"
        f"* = host={upstream_host} port={upstream_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {directory / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {server_connections}\n"
        "max_client_conn = 500\n"
        "logfile =\n"
        "pidfile =\n"
    )


class ToolsMissing(FileNotFoundError):
    """A program the topology needs is not installed."""


def executable(name: str, package: str | None = None) -> str:
    """The path of a program (Debian puts daemons in /usr/sbin, often not on PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if found is None:
        raise ToolsMissing(f"{name} is needed (Debian: apt-get install {package or name})")
    return found


@dataclass
class Process:
    """A program started in a session of its own, its output in a log file."""

    name: str
    command: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    pid: int | None = None

    def start(self) -> None:
        """Start it (not waiting for anything)."""
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
            )
        self.pid = self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        if self.popen is not None:
            return self.popen.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def signal(self, sig: int) -> None:
        """Send it a signal, if it still runs."""
        if self.pid is not None and self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int | None:
        """Wait for it to end; its exit status (None: still running after `timeout`)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)
        return self.popen.returncode if self.popen is not None else 0

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it has not ended within `timeout`."""
        self.signal(signal.SIGTERM)
        if self.wait(timeout) is None:
            self.signal(signal.SIGKILL)
            self.wait(5)

    def wait_listening(self, port: int, timeout: float = 60) -> None:
        """Wait until it accepts connections on `port`."""
        deadline = time.monotonic() + timeout
        while not port_open(port):
            if not self.alive() or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"{self.name} did not listen on {port}:\n{tail}")
            time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return status != "Z"


def instance(
    name: str, port: int, directory: Path, wren: str, env: Mapping[str, str], workers: int = 1
) -> Process:
    """`wren serve` on `port`, configured by `env` (WREN_* settings)."""
    workers_option = ["--workers", str(workers)] if workers > 1 else []
    return Process(
        name=name,
        command=[wren, "serve", "--host", "127.0.0.1", "--port", str(port), *workers_option],
        log=directory / f"{name}.log",
        env={**env, "WREN_PORT": str(port)},
    )


def haproxy(port: int, servers: Mapping[str, int], directory: Path) -> Process:
    """HAProxy in the foreground with its configuration in `directory`."""
    config = directory / "haproxy.cfg"
    config.write_text(haproxy_config(port, servers, directory / "haproxy.sock"))
    return Process(
        name="haproxy",
        command=[executable("haproxy"), "-db", "-f", str(config)],
        log=directory / "haproxy.log",
    )


def haproxy_states(directory: Path, backend: str = "instances") -> dict[str, str]:
    """Each server's status as HAProxy sees it ("UP", "DOWN", "UP 1/2", ...)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(2)
        sock.connect(str(directory / "haproxy.sock"))
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    rows = b"".join(chunks).decode().splitlines()
    header = rows[0].lstrip("# ").split(",")
    states = {}
    for row in rows[1:]:
        values = dict(zip(header, row.split(","), strict=False))
        if values.get("pxname") == backend and values.get("svname") not in {"BACKEND", None}:
            states[values["svname"]] = values["status"]
    return states


def wait_haproxy(
    directory: Path, server: str, status: str, timeout: float = 30, process: Process | None = None
) -> None:
    """Wait until HAProxy reports `server` as `status` ("UP" or "DOWN")."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if haproxy_states(directory).get(server) == status:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or (process is not None and not process.alive()):
            raise RuntimeError(f"HAProxy did not see {server} {status}")
        time.sleep(0.1)


def pgbouncer(
    port: int, upstream: tuple[str, int], directory: Path, server_connections: int = 20
) -> Process:
    """PgBouncer (transaction mode) in the foreground, its files in `directory`."""
    ini = directory / "pgbouncer.ini"
    ini.write_text(pgbouncer_config(port, *upstream, directory, server_connections))
    (directory / "userlist.txt").write_text('"postgres" ""\n')
    command = [executable("pgbouncer")]
    if os.geteuid() == 0:
        # pgbouncer refuses to run as root; the user it switches to must read its files.
        command += ["-u", "postgres" if _user_exists("postgres") else "nobody"]
        directory.chmod(0o755)
        for path in (ini, directory / "userlist.txt"):
            path.chmod(0o644)
    return Process(name="pgbouncer", command=[*command, str(ini)], log=directory / "pgbouncer.log")


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def save_pids(path: Path, processes: Sequence[Process], info: Mapping[str, object]) -> None:
    """Record what runs (name -> pid) and how to reach it, for `down` and for people."""
    pids = {p.name: p.pid for p in processes}
    path.write_text(json.dumps({"pids": pids, **info}, indent=2) + "\n")
