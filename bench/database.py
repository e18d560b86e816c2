"""The benchmark's PostgreSQL: psql, the demo database and the deep timeline cursor."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass

from bench.paths import VENV

PG_HOST, PG_PORT = "127.0.0.1", 5432
PG = f"postgresql://postgres@{PG_HOST}:{PG_PORT}"
# The timeline item whose cursor TimelineDeep starts after.
DEEP_POSITION = 10_000


@dataclass(frozen=True)
class Dataset:
    """The benchmark database: its name, oid, user count and the deep timeline cursor."""

    db: str
    oid: str
    handles: int
    deep: str


def open_dataset(db: str) -> Dataset:
    """Read what the runs need to know about an existing, seeded database."""
    return Dataset(
        db=db,
        oid=psql(f"SELECT oid FROM pg_database WHERE datname = '{db}'"),
        handles=int(psql("SELECT count(*) FROM users", db)),
        deep=deep_cursor(db, DEEP_POSITION),
    )


def psql(sql: str, db: str = "postgres") -> str:
    """Run one statement with psql; its unaligned output."""
    return subprocess.run(
        ["psql", f"{PG}/{db}", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()


def ensure_database(db: str, users: int) -> None:
    """Create, migrate and seed the benchmark database when it is missing or empty."""
    env = {**os.environ, "WREN_DATABASE_URL": f"{PG}/{db}"}
    if not psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
        psql(f'CREATE DATABASE "{db}"')
    subprocess.run([VENV / "wren", "migrate"], env=env, check=True)
    if psql("SELECT count(*) FROM users", db) == "0":
        print(f"seeding {users:,} users into {db} (about a minute)", flush=True)
        subprocess.run([VENV / "wren", "seed", "--users", str(users)], env=env, check=True)


def deep_cursor(db: str, position: int) -> str:
    """Wren's cursor of the timeline's item number `position` (newest first)."""
    row = psql(
        "SELECT (extract(epoch FROM created_at) * 1000000)::bigint || ':' || id FROM posts "
        f"ORDER BY created_at DESC, id DESC OFFSET {position - 1} LIMIT 1",
        db,
    )
    return base64.urlsafe_b64encode(f"k:{row}".encode()).decode().rstrip("=")


def describe(db: str) -> str:
    """The row counts of the dataset, as the report states them."""
    return psql(
        "SELECT format('%s users, %s posts, %s comments, %s follows, %s likes', "
        "(SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT count(*) FROM "
        "comments), (SELECT count(*) FROM follows), (SELECT count(*) FROM likes))",
        db,
    )
