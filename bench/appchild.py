"""A checkout's app in a child process: served in-process (ASGI, no HTTP server) against
the benchmark database, by a script that prints its figures as JSON.

bench/pgcost.py, bench/pgreplay.py and bench/inprocess.py run one each: the child puts a
checkout's `src/` first on its path (pgcost and pgreplay: its code with this venv's
dependencies; inprocess: with the checkout's own venv), so that a figure of another
checkout is taken the same way as this one's. The script given is run after `PREAMBLE`,
which reads the spec (argv[2]) and defines `app_client(spec)`: the app built from the
spec's `db` and `redis` URLs, its lifespan running, and an httpx client of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PREAMBLE = r"""
import asyncio, json, sys
sys.path.insert(0, sys.argv[1])
from contextlib import asynccontextmanager
import httpx
from wren.app import create_app
from wren.settings import Settings

spec = json.loads(sys.argv[2])

@asynccontextmanager
async def app_client(spec):
    # The app (production settings, a throwaway signing key) and an ASGI client of it.
    settings = Settings(_env_file=None, database_url=spec["db"], redis_url=spec["redis"],
                        environment="production", jwt_secret="x" * 40, log_level="warning")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
            yield app, http
"""


def run(
    script: str,
    src: Path,
    spec: Mapping[str, Any],
    *,
    python: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Run `script` (after PREAMBLE) in a child Python (this one's unless given) with `src`
    first on its path; the JSON of its last line of output. When it fails, the message
    names `src` and gives the child's standard error."""
    done = subprocess.run(
        [
            str(python or sys.executable),
            "-c",
            PREAMBLE + script,
            str(src.resolve()),
            json.dumps(spec),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode:
        raise SystemExit(f"{src}: {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
