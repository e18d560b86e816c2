"""The counting pass: SQL statements (pg_stat_statements) and round trips (bench/pgproxy.py).

The server talks to PostgreSQL through the counting proxy; after a warm-up, 10 sequential
requests per operation give statements and round trips (Sync + Query messages) per request.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.cache import ColdCache
from bench.client import post, sequential, viewer_token
from bench.database import PG_HOST, PG_PORT, Dataset, psql
from bench.operations import PEER_OPS, concrete, data_sha, payload_for
from bench.pgproxy import CountingProxy
from bench.servers import Server, ServerSpec

Row = dict[str, Any]
# Requests counted per operation; the counts reported are per request.
COUNTED = 10


def ensure_pg_stat_statements(allow_restart: bool) -> bool:
    """Preload pg_stat_statements (restarting PostgreSQL once when it is not); False when
    it is not preloaded and no restart is allowed: then only round trips are counted."""
    libs = psql("SHOW shared_preload_libraries")
    if "pg_stat_statements" not in libs:
        if not allow_restart:
            print(
                "pg_stat_statements is not preloaded and --no-restart is given: SQL "
                "statements are not counted (round trips still are)",
                flush=True,
            )
            return False
        new = ",".join([*(s.strip() for s in libs.split(",") if s.strip()), "pg_stat_statements"])
        print("preloading pg_stat_statements: restarting PostgreSQL", flush=True)
        psql(f"ALTER SYSTEM SET shared_preload_libraries = '{new}'")
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
        )
        for _ in range(60):
            if subprocess.run(["pg_isready", "-q", "-h", PG_HOST]).returncode == 0:
                break
            time.sleep(0.5)
    psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    return True


def statements(db_oid: str) -> tuple[int, list[dict[str, Any]]]:
    """Statements run in the database since the last reset, and the most frequent ones."""
    rows = psql(
        "SELECT calls, regexp_replace(query, '\\s+', ' ', 'g') FROM pg_stat_statements "
        f"WHERE dbid = {db_oid} AND query NOT LIKE '%pg_stat_statements%' ORDER BY calls DESC"
    )
    total, top = 0, []
    for line in rows.splitlines():
        calls, query = line.split("|", 1)
        total += int(calls)
        top.append({"calls": int(calls), "query": query[:160]})
    return total, top[:6]


def counting_pass(
    spec: ServerSpec,
    ops: list[str],
    dataset: Dataset,
    cache: ColdCache,
    rawdir: Path,
    count_sql: bool = True,
) -> tuple[dict[str, Row], dict[str, str]]:
    """Per operation: response check, SQL statements and round trips per request.

    Also the request headers the load pass is to send (a viewer token when Feed is run).
    """
    proxy = CountingProxy((PG_HOST, PG_PORT)).start()
    server = Server(spec, rawdir / f"{spec.name}.log")
    rows: dict[str, Row] = {}
    headers: dict[str, str] = {}
    try:
        server.start(f"postgresql://postgres@127.0.0.1:{proxy.port}/{dataset.db}")
        if "Feed" in ops:
            token = viewer_token(spec.url)
            if token:
                headers = {"Authorization": f"Bearer {token}"}
        for op in ops:
            row = rows[op] = {"server": spec.name, "operation": op}
            payload = payload_for(op, spec.ops, dataset.deep)
            if payload is None or (op not in PEER_OPS and not spec.is_wren):
                row["skipped"] = "no such operation in this server"
                continue
            if op == "Feed" and not headers:
                row["skipped"] = "no logIn mutation yet: Feed needs a viewer token"
                continue
            status, body = post(spec.url, concrete(payload, 1), headers)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            data = doc.get("data") if isinstance(doc, dict) else None
            row["data_sha"] = data_sha(data)
            row["response_bytes"] = len(body)
            if status != 200 or not data or doc.get("errors"):
                row["error"] = f"HTTP {status}: {body[:200].decode(errors='replace')}"
                print(f"   {spec.name} {op}: {row['error']}", flush=True)
                continue
            if op == "LeaderboardCold":
                # Warm-up with the cache emptied each time: cold requests run statements
                # side by side, and the pool's new connections set themselves up here,
                # not in the counted requests.
                for i in range(3):
                    cache.clear()
                    post(spec.url, concrete(payload, i), headers)
            else:
                sequential(spec.url, payload, 20, headers)
            if count_sql:
                psql("SELECT pg_stat_statements_reset()")
            proxy.reset()
            for i in range(1, COUNTED + 1):
                if op == "LeaderboardCold":
                    cache.clear()
                post(spec.url, concrete(payload, i), headers)
            time.sleep(0.3)
            counts = proxy.reset()
            total, top = statements(dataset.oid) if count_sql else (0, [])
            row.update(
                sql_per_request=total / COUNTED if count_sql else "n/a",
                round_trips_per_request=counts.round_trips / COUNTED,
                new_connections=counts.connections,
                sql_top=top,
                wire_top=sorted(set(counts.queries))[:8],
            )
            print(
                f"   {spec.name} {op}: {row['sql_per_request']} SQL, "
                f"{counts.round_trips / COUNTED:g} round trips per request",
                flush=True,
            )
    finally:
        server.stop()
        proxy.stop()
    return rows, headers
