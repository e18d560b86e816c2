"""The whole run: dataset, then per server the counting and load passes, the soak, the report."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from bench import report
from bench.cache import ColdCache
from bench.database import describe, ensure_database, open_dataset, psql
from bench.load import load_pass, soak
from bench.operations import PEER_OPS
from bench.options import Options, parse_args
from bench.paths import HERE, RESULTS
from bench.servers import RESPONSE_CACHE_SERVER, ServerSpec, server_specs
from bench.sqlcount import counting_pass, ensure_pg_stat_statements

Row = dict[str, Any]
TOOLS = ("wrk", "taskset", "psql")


def main(argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """Run the benchmark (or only rewrite a report); exit status 1 when an operation failed."""
    options = parse_args(argv, description)
    if options.report:
        saved = json.loads(options.report.read_text())
        print(report.write(saved["results"], saved["meta"], options.report.with_suffix("")))
        return 0
    if options.instances:
        from bench import instances

        return instances.run(options)
    return run(options)


def selected(options: Options) -> list[ServerSpec]:
    """The servers that --workers, --peers, --only-peers and --servers select."""
    specs = server_specs(
        options.workers,
        options.peers,
        options.redis_url,
        baseline=options.baseline,
        response_cache=RESPONSE_CACHE_SERVER in (options.servers or []),
    )
    if options.only_peers:
        specs = [s for s in specs if not s.is_wren]
    if options.servers:
        specs = [s for s in specs if s.name in options.servers]
    return specs


def operations_of(spec: ServerSpec, ops: list[str]) -> list[str]:
    """The operations a server is measured on: the peers' few, Timeline for N workers."""
    spec_ops = ops if spec.is_wren else [o for o in ops if o in PEER_OPS]
    if spec.workers > 1:
        spec_ops = [o for o in spec_ops if o == "Timeline"]
    return spec_ops


def run(options: Options) -> int:
    """Measure every selected server; write bench/results/<label>.md and .json."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"not found: {', '.join(missing)} (Debian: apt-get install wrk util-linux "
            "postgresql-client)"
        )
    ensure_database(options.db, options.users)
    count_sql = ensure_pg_stat_statements(not options.no_restart)
    dataset = open_dataset(options.db)
    cache = ColdCache(options.redis_url, options.cache_pattern)
    rows_text = describe(options.db)
    stamp = dt.datetime.now(dt.UTC)
    rawdir = RESULTS / "raw" / stamp.strftime("%Y%m%dT%H%M%S")
    rawdir.mkdir(parents=True, exist_ok=True)

    results: list[Row] = []
    for spec in selected(options):
        spec_ops = operations_of(spec, options.ops)
        print(f"== {spec.name}", flush=True)
        try:
            rows, headers = counting_pass(spec, spec_ops, dataset, cache, rawdir, count_sql)
            load_pass(spec, spec_ops, rows, headers, options, dataset, rawdir)
        except RuntimeError as error:
            print(f"!! {spec.name}: {error}", flush=True)
            rows = {"*": {"server": spec.name, "operation": "*", "error": str(error)}}
        results += rows.values()

    meta: dict[str, Any] = {
        "date": stamp.strftime("%Y-%m-%d %H:%M UTC"),
        "db": options.db,
        "rows": rows_text,
        "connections": options.connections,
        "duration": options.duration,
        "warmup": options.warmup,
        "host": f"{os.cpu_count()} CPUs, Linux {os.uname().release}, "
        f"PostgreSQL {psql('SHOW server_version')}",
        "raw": str(rawdir.relative_to(HERE)),
    }
    if options.soak:
        print(f"== soak: {options.soak} s of mixed load", flush=True)
        meta["soak"] = soak(soak_spec(options), options, dataset, rawdir)
    out = RESULTS / options.label
    text = report.write(results, meta, out)
    print(f"\nwrote {out.with_suffix('.md')} and .json\n\n{text}")
    return 1 if any("error" in r for r in results) else 0


def soak_spec(options: Options) -> ServerSpec:
    """The server the soak runs: Wren with the first of --workers."""
    return server_specs(options.workers, False, options.redis_url)[0]
