"""PostgreSQL's instructions per request: one request's statements replayed under callgrind.

    .venv/bin/python bench/pgreplay.py --data /tmp/pgcopy/data --ops Timeline,Directory
    .venv/bin/python bench/pgreplay.py --src ../base/src --data /tmp/pgcopy/data   # before

CPU time of PostgreSQL's backends on a shared machine moves by a quarter from run to run
(bench/pgcost.py); instructions do not. This captures the statements (and parameters)
that one request of each operation sends, from an in-process app of a checkout against
the benchmark database, then replays them as PREPARE + EXECUTE in a single-user backend
(`postgres --single`, run as the `postgres` user) of a private copy of the database under
valgrind callgrind, 5 and 25 times: (instructions of 25 - of 5) / 20 is the request's
cost, planning included (custom plans are planned at each execution, as on the server's
prepared statements; a generic plan that wins is built once, at the sixth execution, and
is in the figure spread over the 20), the wire protocol's framing not.

The copy (never the machine's own cluster: a single-user backend needs its data directory
to itself) is made once, and must be analyzed, or its plans are not the real ones:

    initdb -D DIR; pg_ctl -D DIR -o '-p 55432' start; createdb -p 55432 bench
    pg_dump -d wren_bench -Fc | pg_restore -p 55432 -d bench; psql -p 55432 bench -c ANALYZE
    pg_ctl -D DIR stop
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import appchild  # noqa: E402
from bench.inprocess import VARIABLES, _document  # noqa: E402

_CAPTURE = r"""
import datetime

def literal(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, datetime.datetime):
        return "'" + v.isoformat() + "'"
    if isinstance(v, str):
        return "'" + v.replace("'", "''") + "'"
    if isinstance(v, list):
        items = ["NULL" if x is None else x.isoformat() if isinstance(x, datetime.datetime)
                 else str(x) for x in v]
        return "'{" + ",".join(items) + "}'"
    raise TypeError(type(v))

async def main(spec):
    out = {}
    async with app_client(spec) as (app, http):
        for name, (text, variables) in spec["ops"].items():
            body = {"query": text, "variables": variables}
            await http.post("/graphql", json=body)  # warm: caches filled
            calls = []
            with app.state.resources.db.watching(lambda sql, p: calls.append((sql, p))):
                response = await http.post("/graphql", json=body)
            assert response.status_code == 200 and b'"errors"' not in response.content
            out[name] = [(sql, [literal(v) for v in params or ()]) for sql, params in calls]
    print(json.dumps(out))

asyncio.run(main(spec))
"""


def script(calls: list[tuple[str, list[str]]], executions: int) -> str:
    """The single-user backend's input (-j: a statement ends with a blank line)."""
    parts = [f"PREPARE s{i} AS {sql};\n\n" for i, (sql, _) in enumerate(calls)]
    for _ in range(executions):
        for i, (_, params) in enumerate(calls):
            parts.append(
                f"EXECUTE s{i}({', '.join(params)});\n\n" if params else f"EXECUTE s{i};\n\n"
            )
    return "".join(parts)


def instructions(data: Path, database: str, text: str, postgres: str) -> int:
    """Instructions of a single-user backend running `text`."""
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o777)
        commands, out = Path(tmp) / "in.sql", Path(tmp) / "callgrind.out"
        log = Path(tmp) / "backend.log"
        commands.write_text(text)
        commands.chmod(0o644)
        run = (
            f"valgrind --tool=callgrind --callgrind-out-file={out} {postgres} --single -j"
            f" -D {data} {database} < {commands} > {log} 2>&1"
        )
        subprocess.run(["su", "postgres", "-c", run], check=True)
        # A statement that fails costs a fraction of one that runs: never a figure.
        failed = [line for line in log.read_text().splitlines() if "ERROR:" in line]
        assert not failed, f"the backend refused a statement: {failed[0]}"
        found = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
        assert found, "no totals in callgrind's output"
        return int(found.group(1))


def main() -> int:
    """Capture, replay, print instructions per request."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--src", type=Path, default=HERE.parent / "src")
    ap.add_argument("--ops", default="Timeline,Directory")
    ap.add_argument("--data", type=Path, required=True, help="the copy's data directory")
    ap.add_argument("--database", default="bench", help="the copy's database")
    ap.add_argument("--postgres", default="/usr/lib/postgresql/15/bin/postgres")
    ap.add_argument("--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/wren_bench")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    spec = {
        "ops": {op: (_document(op), VARIABLES[op]) for op in args.ops.split(",")},
        "db": args.db,
        "redis": args.redis_url,
    }
    captured: dict[str, list[tuple[str, list[str]]]] = appchild.run(_CAPTURE, args.src, spec)
    for op, calls in captured.items():
        few, many = (
            instructions(args.data, args.database, script(calls, n), args.postgres) for n in (5, 25)
        )
        print(f"{op}: {len(calls)} statements, {(many - few) // 20:,} instructions/request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
