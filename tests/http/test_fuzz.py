"""Fuzzing: schemathesis generates GraphQL operations from the schema; none is a server error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("small_world")

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { token } }"""


def token(live_url: str) -> str:
    """A logged-in viewer's token, so that viewer-only fields are fuzzed for real."""
    viewer = {"handle": "fuzzer", "displayName": "Fuzzer", "password": "fuzz-password-1"}
    response = httpx.post(live_url, json={"query": SIGN_UP, "variables": {"input": viewer}})
    value: str = response.json()["data"]["signUp"]["token"]
    return value


def schemathesis(live_url: str, workdir: Path, *options: str) -> int:
    """Run `st run` against the live server; the number of operations it generated."""
    # The `st` script installed beside this Python (schemathesis is a dev dependency).
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "install the dev dependencies: pip install -e '.[dev]'"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.http.fuzz_checks",
    }
    done = subprocess.run(
        [
            st, "run", live_url, *options,
            "--max-examples", "100",
            "--seed", "1",
            "--generation-database", "none",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=540, check=False, cwd=workdir, env=env,
    )  # fmt: skip
    generated = re.search(r"(\d+) generated", done.stdout)
    assert generated is not None, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode == 0, done.stdout[-3000:]
    return int(generated.group(1))


def test_schemathesis_finds_no_server_error(live_url: str, tmp_path: Path) -> None:
    auth = f"Authorization: Bearer {token(live_url)}"
    # Reads: schemathesis' strictest check, every resolver error counts as a failure.
    reads = schemathesis(
        live_url, tmp_path, "--header", auth,
        "--include-name-regex", "^Query\\.",
        "--checks", "not_a_server_error",
    )  # fmt: skip
    # Writes: refusals of random ids and credentials are the API; no 5xx and every error
    # classified (see fuzz_checks.py).
    writes = schemathesis(
        live_url, tmp_path, "--header", auth,
        "--include-name-regex", "^Mutation\\.",
        "--checks", "errors_are_classified",
    )  # fmt: skip
    print(f"schemathesis: {reads} reads and {writes} writes generated")
    assert reads + writes >= 1000
