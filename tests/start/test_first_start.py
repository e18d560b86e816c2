"""A first `wren serve` prints a handful of lines; the embedded database's output goes to a file."""

from __future__ import annotations

import httpx

from tests.start.conftest import WELCOME, FirstStart


def test_a_first_start_prints_a_handful_of_lines(first_start: FirstStart) -> None:
    lines = first_start.started
    assert len(lines) <= 8, "\n".join(lines)
    text = "\n".join(lines)
    for noise in ("pgserver", "initdb", "pg_ctl", "alembic", "Warning", "XDG_RUNTIME_DIR"):
        assert noise not in text, noise
    # Where the data lives and where its log is, then the URL to open and how to log in.
    embedded = [line for line in lines if str(first_start.embedded_dir) in line]
    assert len(embedded) == 1
    assert f"its log: {first_start.log}" in embedded[0]
    assert any("seeded the embedded database with 200 demo users" in line for line in lines)
    assert WELCOME in lines[-1]
    assert first_start.url in lines[-1]
    assert "log in as user1 with the password wren-demo-password" in lines[-1]


def test_the_embedded_database_output_is_in_its_log(first_start: FirstStart) -> None:
    log = first_start.log.read_text()
    # initdb's own output, pg_ctl's command line and Alembic's migration.
    assert "Success. You can now start the database server" in log
    assert "pg_ctl" in log
    assert "Running upgrade  -> 0001" in log


def test_the_demo_log_in_it_names_works(first_start: FirstStart) -> None:
    mutation = 'mutation { logIn(handle: "user1", password: "wren-demo-password") { token } }'
    body = httpx.post(first_start.url, json={"query": mutation}).json()
    assert body["data"]["logIn"]["token"]
