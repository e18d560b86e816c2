"""`wren serve --workers N`: uvicorn's supervisor, with workers that drain as one process does.

uvicorn's `Multiprocess` binds the socket, spawns the workers (each gets the listening
socket) and, on SIGTERM or SIGINT, sends each worker SIGTERM and waits for it without a
bound. Each worker runs a plain `uvicorn.Server`, so on its own it has no drain and
closes WebSockets with 1012. Here:

- every worker runs `GracefulServer` (wren.shutdown): on SIGTERM it drains for
  `WREN_SHUTDOWN_DRAIN` (`/readyz` 503, responses with `Connection: close`), stops
  accepting, closes its WebSockets with 1001 and finishes its requests within
  `WREN_SHUTDOWN_TIMEOUT`, exactly as a one-worker process does;
- the supervisor closes its own copy of the listening socket as the shutdown starts. The
  socket is one open file shared by every process: it keeps listening while any worker
  still drains, and closes (new connections refused, so a balancer retries them
  elsewhere) once the last worker has closed its copy. Were the supervisor to keep its
  copy, connections would pile up unanswered in the backlog after the workers stopped
  accepting;
- it passes on the signal it got (SIGTERM drains, SIGINT skips the drain), and any signal
  that arrives while it waits (a second SIGTERM skips the rest of the drain);
- it waits for the workers for at most the drain, the shutdown timeout and
  `CLOSE_GRACE` seconds for the lifespan to close the pools, kills whatever is left, and
  exits 0.

Signals meant for the supervisor must reach it alone (Docker's `docker stop`, Kubernetes
and `scripts/cluster` signal the main process only; under systemd use `KillMode=mixed`):
a SIGTERM sent to the whole process group reaches each worker twice, and the second skips
the drain.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import TYPE_CHECKING

from uvicorn.supervisors.multiprocess import Multiprocess
from uvicorn.supervisors.multiprocess import Process as _UvicornWorker

from wren import _compat
from wren.shutdown import GracefulServer

if TYPE_CHECKING:
    import socket

    import uvicorn

log = logging.getLogger("wren.shutdown")

# Seconds a worker may take, after the shutdown timeout, to close its pool and Redis.
CLOSE_GRACE = 5.0
# Seconds the supervisor waits for a worker's answer to its ping before it kills the
# worker as hung and spawns another (uvicorn's 5 s is less than a busy machine takes to
# import the app). The supervisor's loop waits meanwhile, signals included.
WORKER_HEALTHCHECK = 20


class Worker(_UvicornWorker):
    """uvicorn's worker process, running Wren's graceful server."""

    @property
    def server(self) -> uvicorn.Server:
        """The worker's server, made in the worker on first use (as uvicorn's is)."""
        if self._server is None:
            self._server = GracefulServer(self.config)
        return self._server


class Supervisor(Multiprocess):
    """uvicorn's supervisor: workers that drain, a shutdown bounded in time."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], drain: float) -> None:
        _compat.supervise_workers(Worker)
        super().__init__(config, sockets)
        self.wait_at_most = drain + (config.timeout_graceful_shutdown or 0) + CLOSE_GRACE
        self.stop_signal = signal.SIGTERM

    def handle_int(self) -> None:
        """SIGINT: the workers get SIGINT too (no drain)."""
        self.stop_signal = signal.SIGINT
        super().handle_int()

    def terminate_all(self) -> None:
        """Close this process's copy of the socket, then signal every worker."""
        for sock in self.sockets:
            sock.close()
        self._signal_workers(self.stop_signal)

    def _signal_workers(self, sig: int) -> None:
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                os.kill(process.pid, sig)

    def join_all(self) -> None:
        """Wait for the workers within the bound, passing on signals; kill what is left."""
        deadline = time.monotonic() + self.wait_at_most
        while any(p.process.is_alive() for p in self.processes):
            if time.monotonic() > deadline:
                break
            for sig in tuple(self.signal_queue):
                self.signal_queue.remove(sig)
                if sig in (signal.SIGTERM, signal.SIGINT):
                    self._signal_workers(sig)
            for process in self.processes:
                process.process.join(0.1)
        for process in self.processes:
            if process.process.is_alive():
                log.error(
                    "worker %s still ran %.0f s after the shutdown began: killed",
                    process.pid,
                    self.wait_at_most,
                )
                process.kill()
                process.process.join()


def run(config: uvicorn.Config, drain: float) -> None:
    """Bind the socket and supervise `config.workers` workers until a signal stops them."""
    Supervisor(config, [config.bind_socket()], drain).run()
