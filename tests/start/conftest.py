"""A first start: the real `wren serve` with nothing configured, on a new embedded database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

# The line `wren serve` ends its start with (src/wren/welcome.py).
WELCOME = "GraphiQL: open "


@dataclass
class FirstStart:
    """A running first start: where it listens, where its data is, what it printed."""

    port: int
    embedded_dir: Path
    seconds: float
    process: subprocess.Popen[str]
    output: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Its /graphql endpoint."""
        return f"http://127.0.0.1:{self.port}/graphql"

    @property
    def log(self) -> Path:
        """The embedded database's log file."""
        return self.embedded_dir.with_name(f"{self.embedded_dir.name}.log")


def _read(process: subprocess.Popen[str], into: list[str], listening: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        into.append(line.rstrip("\n"))
        if "Uvicorn running on" in line:
            listening.set()
    listening.set()


@pytest.fixture(scope="session")
def first_start() -> Iterator[FirstStart]:
    """`wren serve` as a new user runs it: no WREN_ variable, no .env, a new data directory."""
    # Under /var/tmp, as the default is: pgserver opens the data directory's parents to the
    # user it runs PostgreSQL as, which the private directories of pytest's tmp_path are not.
    home = Path(tempfile.mkdtemp(prefix="wren-first-start-", dir="/var/tmp"))
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("WREN_") and key != "XDG_RUNTIME_DIR"
    }
    embedded_dir = home / "embedded"
    env["WREN_EMBEDDED_DIR"] = str(embedded_dir)
    port = free_port()
    wren = Path(sys.executable).with_name("wren")
    began = time.monotonic()
    process = subprocess.Popen(
        [str(wren), "serve", "--port", str(port)],
        cwd=home, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output: list[str] = []
    listening = threading.Event()
    reader = threading.Thread(target=_read, args=(process, output, listening), daemon=True)
    reader.start()
    try:
        if not listening.wait(90) or process.poll() is not None:
            raise RuntimeError("wren serve did not start:\n" + "\n".join(output))
        seconds = time.monotonic() - began
        # The welcome follows uvicorn's line at once (or never: the tests then say so).
        deadline = time.monotonic() + 2
        while not any(WELCOME in line for line in output) and time.monotonic() < deadline:
            time.sleep(0.05)
        started = FirstStart(port, embedded_dir, seconds, process, output)
        started.started = list(output)
        yield started
    finally:
        process.terminate()
        process.wait(30)
        reader.join(10)
        if process.stdout is not None:
            process.stdout.close()
        shutil.rmtree(home, ignore_errors=True)
