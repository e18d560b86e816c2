"""One-command benchmark: Wren (and optionally the reference servers) over the contract.

    .venv/bin/python bench/run.py                       # Wren alone, every operation
    .venv/bin/python bench/run.py --peers               # + PostGraphile, naive, floor
    .venv/bin/python bench/run.py --workers 1,2 --ops Timeline
    .venv/bin/python bench/run.py --soak 300            # RSS after 1 and 5 minutes

Creates the demo database (10,000 users: `wren migrate` + `wren seed`) when missing,
preloads pg_stat_statements (once: ALTER SYSTEM + a PostgreSQL restart), then per server:

1. counting pass: the server talks to PostgreSQL through a counting proxy
   (bench/pgproxy.py); after a warm-up, 10 sequential requests per operation give SQL
   statements (pg_stat_statements) and round trips (Sync + Query messages) per request;
2. load pass: the server, pinned to CPU 0 (CPUs 0..N-1 with N workers), talks to
   PostgreSQL directly and wrk (Lua, pinned to the last CPU) loads each operation.

Results: bench/results/<label>.md and .json; wrk output and logs in bench/results/raw/.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pgproxy import CountingProxy

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv" / "bin"
CONTRACT_OPS = Path(os.environ.get("BENCH_CONTRACT", ROOT / "contract"))
PEERS = Path(os.environ.get("BENCH_PEERS", HERE / ".deps" / "peers"))
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG = f"postgresql://postgres@{PG_HOST}:{PG_PORT}"
LAST_CPU = (os.cpu_count() or 2) - 1

# name -> (document, variables); "$HANDLE" cycles user1..userN per request,
# "$DEEP" is the cursor of the 10,000th post of the timeline.
OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Timeline": ("Timeline", {"first": 20, "after": None}),
    "TimelineDeep": ("Timeline", {"first": 20, "after": "$DEEP"}),
    "Directory": ("Directory", {"first": 50}),
    "UserByHandle": ("UserByHandle", {"handle": "$HANDLE"}),
    "Profile": ("Profile", {"handle": "$HANDLE"}),
    "Leaderboard": ("Leaderboard", {"first": 50}),
    "LeaderboardCold": ("Leaderboard", {"first": 50}),
    "Feed": ("Feed", {"first": 20, "after": None}),
}
# Warm requests timed after each LeaderboardCold request.
WARM_AFTER_COLD = 10
# The peers implement only these; their cursors are not Wren's.
PEER_OPS = {"Timeline", "Directory", "UserByHandle"}


# ---------------------------------------------------------------- PostgreSQL


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


def ensure_pg_stat_statements(allow_restart: bool) -> None:
    """Preload pg_stat_statements; restarts PostgreSQL once when it is not."""
    libs = psql("SHOW shared_preload_libraries")
    if "pg_stat_statements" not in libs:
        if not allow_restart:
            sys.exit("pg_stat_statements is not preloaded; rerun without --no-restart")
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


def deep_cursor(db: str, position: int) -> str:
    """Wren's cursor of the timeline's item number `position` (newest first)."""
    row = psql(
        "SELECT (extract(epoch FROM created_at) * 1000000)::bigint || ':' || id FROM posts "
        f"ORDER BY created_at DESC, id DESC OFFSET {position - 1} LIMIT 1",
        db,
    )
    return base64.urlsafe_b64encode(f"k:{row}".encode()).decode().rstrip("=")


# ---------------------------------------------------------------- processes


def port_open(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port."""
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def post(
    url: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """POST a GraphQL request; (status, body)."""
    status, body, _ = post_timed(url, payload, headers)
    return status, body


def post_timed(
    url: str, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes, float | None]:
    """POST a GraphQL request; (status, body, the server's own ms from Server-Timing)."""
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), server_ms(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), server_ms(error.headers)


def server_ms(headers: Any) -> float | None:
    """The `dur` of a Server-Timing header (Wren sends `app;dur=<ms>`), if there is one."""
    match = re.search(r"dur=([0-9.]+)", headers.get("server-timing") or "")
    return float(match.group(1)) if match else None


def proc_stats() -> dict[int, tuple[str, int, int]]:
    """pid -> (command, process group, CPU ticks) for every process."""
    snap = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        comm = text[text.index("(") + 1 : text.rindex(")")]
        snap[int(stat.parent.name)] = (comm, int(fields[2]), int(fields[11]) + int(fields[12]))
    return snap


def other_cpu(before: dict[int, Any], after: dict[int, Any], pgid: int, seconds: float) -> float:
    """CPU % used meanwhile by processes other than the server, wrk and PostgreSQL."""
    ticks = 0
    for pid, (comm, group, t) in after.items():
        if group == pgid or comm in ("wrk", "postgres") or pid == os.getpid() or pid not in before:
            continue
        ticks += t - before[pid][2]
    return 100.0 * ticks / os.sysconf("SC_CLK_TCK") / seconds


def group_memory(pgid: int) -> tuple[int, int]:
    """(sum of VmRSS, max VmHWM) in KiB over the processes of a group."""
    rss = hwm = 0
    for pid, (_, group, _) in proc_stats().items():
        if group != pgid:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+)", status, re.M))
        rss += int(values.get("VmRSS", 0))
        hwm = max(hwm, int(values.get("VmHWM", 0)))
    return rss, hwm


def wait_idle(pgid: int, limit: float = 60) -> None:
    """Wait until the server stops using CPU (requests abandoned by wrk drain)."""

    def ticks() -> int:
        return sum(t for _, group, t in proc_stats().values() if group == pgid)

    end, last = time.monotonic() + limit, ticks()
    while time.monotonic() < end:
        time.sleep(0.5)
        now = ticks()
        if now - last <= 2:
            return
        last = now


class Server:
    """One server under test, started in its own process group."""

    def __init__(self, spec: dict[str, Any], log: Path) -> None:
        self.spec = spec
        self.log = log.open("ab")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pgid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, database_url: str) -> None:
        """Start and wait until it listens."""
        if port_open(self.spec["port"]):
            raise RuntimeError(f"port {self.spec['port']} is already taken")
        env = {**os.environ, **self.spec.get("env", {}), "BENCH_DATABASE_URL": database_url}
        # PostGraphile and the floor read DATABASE_URL; the naive app hands it to SQLAlchemy.
        env["DATABASE_URL"] = database_url.replace(
            "postgresql://", self.spec.get("url_scheme", "postgresql://")
        )
        if self.spec["name"].startswith("wren"):
            env["WREN_DATABASE_URL"] = database_url
        self.proc = subprocess.Popen(
            ["taskset", "-c", self.spec["cpus"], *self.spec["cmd"]],
            cwd=self.spec.get("cwd", ROOT),
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec['name']} exited; see {self.log.name}")
            if port_open(self.spec["port"]):
                time.sleep(0.5 if self.spec.get("workers", 1) > 1 else 0)
                return
            time.sleep(0.3)
        raise RuntimeError(f"{self.spec['name']} did not listen within 90 s")

    def stop(self) -> None:
        """SIGTERM the group, then SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.pgid, signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.pgid, signal.SIGKILL)
            self.proc.wait()


# ---------------------------------------------------------------- wrk

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%(headers)s
local bodies = %(bodies)s
local prefix, suffix, cycle = %(prefix)s, %(suffix)s, %(cycle)d
local i, b = 0, 0
request = function()
  if #bodies > 0 then
    b = b %% #bodies + 1
    return wrk.format(nil, nil, nil, bodies[b])
  end
  if cycle == 0 then return wrk.format(nil, nil, nil, prefix) end
  i = i %% cycle + 1
  return wrk.format(nil, nil, nil, prefix .. "user" .. i .. suffix)
end
bad = 0
response = function(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local ge = 0
  for _, t in ipairs(threads) do ge = ge + t:get("bad") end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"max_us":%%d,"non2xx":%%d,"socket_errors":%%d,"graphql_errors":%%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout, ge))
end
"""


def lua_str(s: str) -> str:
    """A Lua string literal."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_lua(
    path: Path, payloads: list[dict[str, Any]], handles: int, headers: dict[str, str]
) -> None:
    """A wrk script cycling over payloads, or over handles when one payload has $HANDLE."""
    bodies = [json.dumps(p, separators=(",", ":")) for p in payloads]
    prefix, suffix, cycle, many = bodies[0], "", 0, "{}"
    if len(bodies) > 1:
        many = "{" + ",".join(lua_str(b.replace('"$HANDLE"', '"user1"')) for b in bodies) + "}"
    elif '"$HANDLE"' in bodies[0]:
        prefix, suffix = bodies[0].split("$HANDLE", 1)
        cycle = handles
    header_lines = "\n".join(
        f"wrk.headers[{lua_str(k)}] = {lua_str(v)}" for k, v in headers.items()
    )
    path.write_text(
        LUA
        % {
            "headers": header_lines,
            "bodies": many,
            "prefix": lua_str(prefix),
            "suffix": lua_str(suffix),
            "cycle": cycle,
        }
    )


def run_wrk(
    url: str, lua: Path, seconds: int, connections: int, raw: Path | None
) -> dict[str, Any]:
    """Load `url` with wrk on the last CPU; wrk's numbers as a dict."""
    cmd = ["taskset", "-c", str(LAST_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    cmd += ["--timeout", "30s", "-s", str(lua), "--latency", url]
    out = subprocess.run(cmd, text=True, capture_output=True, check=False).stdout
    if raw:
        raw.write_text(" ".join(cmd) + "\n\n" + out)
    match = re.search(r"^BENCH_JSON (.*)$", out, re.M)
    if not match:
        raise RuntimeError(f"wrk failed:\n{out}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


# ---------------------------------------------------------------- the runs


def servers(a: argparse.Namespace) -> list[dict[str, Any]]:
    """The servers to measure: Wren per worker count, then the peers when asked."""
    jwt_secret = os.environ.get("WREN_JWT_SECRET") or secrets.token_urlsafe(32)
    out = [
        {
            "name": "wren" if n == 1 else f"wren-{n}w",
            "cmd": [str(VENV / "wren"), "serve", "--port", "8000", "--workers", str(n)],
            "port": 8000,
            "workers": n,
            "cpus": ",".join(str(c) for c in range(n)),
            "env": {
                "WREN_ENVIRONMENT": "production",
                "WREN_LOG_LEVEL": "warning",
                "WREN_REDIS_URL": a.redis_url,
                # Production refuses the development signing key; one key per run keeps
                # the Feed token valid across the server's restarts.
                "WREN_JWT_SECRET": jwt_secret,
            },
            "ops": CONTRACT_OPS / "operations",
        }
        for n in [int(w) for w in a.workers.split(",")]
    ]
    if a.peers:
        peers = PEERS / "peers"
        for name, port, ops, scheme in (
            ("postgraphile", 5678, peers / "postgraphile" / "operations", "postgresql://"),
            ("naive_strawberry", 5679, CONTRACT_OPS / "operations", "postgresql+asyncpg://"),
            ("floor", 5680, CONTRACT_OPS / "operations", "postgresql://"),
        ):
            out.append(
                {
                    "name": name,
                    "cmd": [str(peers / name / "start.sh")],
                    "port": port,
                    "cpus": "0",
                    "ops": ops,
                    "cwd": PEERS,
                    "url_scheme": scheme,
                }
            )
    for spec in out:
        spec["url"] = f"http://127.0.0.1:{spec['port']}/graphql"
    return out


def viewer_token(url: str) -> str | None:
    """A token from `logIn(handle, password) { token }` as user1, or None without one."""
    password = "wren-demo-password"  # noqa: S105 - wren.db.seed.DEMO_PASSWORD, the demo credential
    query = f'mutation {{ logIn(handle: "user1", password: "{password}") {{ token }} }}'
    _status, body = post(url, {"query": query})
    try:
        value = ((json.loads(body).get("data") or {}).get("logIn") or {}).get("token")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def payload_for(op: str, ops_dir: Path, deep: str) -> dict[str, Any] | None:
    """The request body of an operation, or None when the server has no document for it."""
    doc_name, variables = OPERATIONS[op]
    path = ops_dir / f"{doc_name}.graphql"
    if not path.exists():
        return None
    values = {k: deep if v == "$DEEP" else v for k, v in variables.items()}
    return {"query": path.read_text(), "variables": values, "operationName": doc_name}


def concrete(payload: dict[str, Any], i: int) -> dict[str, Any]:
    """The payload with $HANDLE replaced by user<i>."""
    variables = {k: f"user{i}" if v == "$HANDLE" else v for k, v in payload["variables"].items()}
    return {**payload, "variables": variables}


def without_cursors(data: Any) -> Any:
    """The data without cursors, ids decoded: each server encodes them its own way."""
    if isinstance(data, dict):
        return {
            k: decoded_id(v) if k == "id" else without_cursors(v)
            for k, v in data.items()
            if k not in CURSOR_FIELDS
        }
    if isinstance(data, list):
        return [without_cursors(v) for v in data]
    return data


def decoded_id(value: Any) -> Any:
    """A base64 global id as its text (`User:41`), padded or not; anything else as it is."""
    if not isinstance(value, str):
        return value
    # Either alphabet: Wren's ids are URL-safe base64, the floor's standard base64.
    standard = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return value


CURSOR_FIELDS = {"cursor", "startCursor", "endCursor"}


def clear_cache(redis_url: str, pattern: str) -> int:
    """Delete the cache's keys (SCAN + DEL of `pattern` only: the Redis is shared)."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


def sequential(url: str, payload: dict[str, Any], n: int, headers: dict[str, str]) -> list[float]:
    """Latencies (s) of n sequential requests."""
    return [latency for latency, _ in sequential_timed(url, payload, n, headers)]


def sequential_timed(
    url: str, payload: dict[str, Any], n: int, headers: dict[str, str]
) -> list[tuple[float, float | None]]:
    """(latency in s, server ms from Server-Timing) of n sequential requests."""
    out = []
    for i in range(1, n + 1):
        started = time.perf_counter()
        _, _, server = post_timed(url, concrete(payload, i), headers)
        out.append((time.perf_counter() - started, server))
    return out


def server_p50(timed: list[tuple[float, float | None]]) -> float | None:
    """Median server time (ms) of timed requests, when the server reports it."""
    values = [server for _, server in timed if server is not None]
    return percentile(values, 50) if values else None


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def counting_pass(
    spec: dict[str, Any], ops: list[str], ctx: dict[str, Any], rawdir: Path
) -> dict[str, dict[str, Any]]:
    """Per operation: response check, SQL statements and round trips per request."""
    proxy = CountingProxy((PG_HOST, PG_PORT)).start()
    server = Server(spec, rawdir / f"{spec['name']}.log")
    rows: dict[str, dict[str, Any]] = {}
    try:
        server.start(f"postgresql://postgres@127.0.0.1:{proxy.port}/{ctx['db']}")
        headers = {}
        if "Feed" in ops:
            token = viewer_token(spec["url"])
            if token:
                headers = {"Authorization": f"Bearer {token}"}
        ctx.setdefault("headers", {})[spec["name"]] = headers
        for op in ops:
            row = rows[op] = {"server": spec["name"], "operation": op}
            payload = payload_for(op, spec["ops"], ctx["deep"])
            if payload is None or (op not in PEER_OPS and not spec["name"].startswith("wren")):
                row["skipped"] = "no such operation in this server"
                continue
            if op == "Feed" and not headers:
                row["skipped"] = "no logIn mutation yet: Feed needs a viewer token"
                continue
            status, body = post(spec["url"], concrete(payload, 1), headers)
            try:
                doc = json.loads(body)
            except ValueError:
                doc = {}
            data = doc.get("data") if isinstance(doc, dict) else None
            # Compared without cursors and with ids decoded: each server encodes them its way.
            comparable = json.dumps(without_cursors(data), sort_keys=True).encode()
            row["data_sha"] = hashlib.sha256(comparable).hexdigest()[:12]
            row["response_bytes"] = len(body)
            if status != 200 or not data or doc.get("errors"):
                row["error"] = f"HTTP {status}: {body[:200].decode(errors='replace')}"
                print(f"   {spec['name']} {op}: {row['error']}", flush=True)
                continue
            if op == "LeaderboardCold":
                # Warm-up with the cache emptied each time: cold requests run statements
                # side by side, and the pool's new connections set themselves up here,
                # not in the counted requests.
                for i in range(3):
                    clear_cache(ctx["redis_url"], ctx["cache_pattern"])
                    post(spec["url"], concrete(payload, i), headers)
            else:
                sequential(spec["url"], payload, 20, headers)
            psql("SELECT pg_stat_statements_reset()")
            proxy.reset()
            for i in range(1, 11):
                if op == "LeaderboardCold":
                    clear_cache(ctx["redis_url"], ctx["cache_pattern"])
                post(spec["url"], concrete(payload, i), headers)
            time.sleep(0.3)
            counts = proxy.reset()
            total, top = statements(ctx["db_oid"])
            row.update(
                sql_per_request=total / 10,
                round_trips_per_request=counts.round_trips / 10,
                new_connections=counts.connections,
                sql_top=top,
                wire_top=sorted(set(counts.queries))[:8],
            )
            print(
                f"   {spec['name']} {op}: {total / 10:g} SQL, "
                f"{counts.round_trips / 10:g} round trips per request",
                flush=True,
            )
    finally:
        server.stop()
        proxy.stop()
    return rows


def load_pass(
    spec: dict[str, Any],
    ops: list[str],
    rows: dict[str, dict[str, Any]],
    a: argparse.Namespace,
    ctx: dict[str, Any],
    rawdir: Path,
) -> None:
    """Per operation: wrk's req/s and latencies, CPU noise and the server's memory."""
    server = Server(spec, rawdir / f"{spec['name']}.log")
    headers = ctx["headers"].get(spec["name"], {})
    try:
        server.start(f"{PG}/{ctx['db']}")
        for op in ops:
            row = rows[op]
            if "skipped" in row or "error" in row:
                continue
            payload = payload_for(op, spec["ops"], ctx["deep"])
            assert payload is not None
            if op == "LeaderboardCold":
                # Each request after emptying the cache: sequential, not under wrk. The
                # warm requests that follow each one are timed in the same moment, so the
                # ratio compares the two under the same conditions.
                timed, warm, ratios = [], [], []
                for _ in range(a.cold_requests):
                    clear_cache(ctx["redis_url"], ctx["cache_pattern"])
                    cold = sequential_timed(spec["url"], payload, 1, headers)
                    after = sequential_timed(spec["url"], payload, WARM_AFTER_COLD, headers)
                    timed += cold
                    warm += after
                    cold_ms, warm_ms = cold[0][1], server_p50(after)
                    if cold_ms and warm_ms:
                        ratios.append(cold_ms / warm_ms)
                latencies = [latency for latency, _ in timed]
                row.update(
                    server_p50_ms=server_p50(timed),
                    warm_server_p50_ms=server_p50(warm),
                    pair_ratio_p50=percentile(ratios, 50) if ratios else None,
                    rps=len(latencies) / sum(latencies),
                    p50_us=percentile(latencies, 50) * 1e6,
                    p99_us=percentile(latencies, 99) * 1e6,
                    requests=len(latencies),
                    non2xx=0,
                    socket_errors=0,
                    graphql_errors=0,
                    mode="sequential, cache emptied before each request",
                )
                continue
            lua = rawdir / f"{spec['name']}-{op}.lua"
            write_lua(lua, [payload], ctx["handles"], headers)
            run_wrk(spec["url"], lua, a.warmup, a.connections, None)
            wait_idle(server.pgid)
            before = proc_stats()
            result = run_wrk(
                spec["url"], lua, a.duration, a.connections, rawdir / f"{spec['name']}-{op}.txt"
            )
            result["other_cpu_pct"] = round(
                other_cpu(before, proc_stats(), server.pgid, result["duration_us"] / 1e6), 1
            )
            rss, hwm = group_memory(server.pgid)
            result.update(rss_mib=round(rss / 1024, 1), peak_rss_mib=round(hwm / 1024, 1))
            row.update(result)
            wait_idle(server.pgid)
            if op == "Leaderboard":
                # Warm, sequential, after the load: the server time to set beside
                # LeaderboardCold's (measured the same way, with the cache emptied).
                timed = sequential_timed(spec["url"], payload, 50, headers)
                row.update(
                    server_p50_ms=server_p50(timed),
                    sequential_p50_us=percentile([t for t, _ in timed], 50) * 1e6,
                )
            print(
                f"   {spec['name']} {op}: {result['rps']:.1f} req/s  "
                f"p50 {result['p50_us'] / 1000:.1f} ms  p99 {result['p99_us'] / 1000:.1f} ms  "
                f"errors {result['non2xx'] + result['graphql_errors']}  "
                f"other CPU {result['other_cpu_pct']}%",
                flush=True,
            )
    finally:
        server.stop()


def soak(spec: dict[str, Any], a: argparse.Namespace, ctx: dict[str, Any], rawdir: Path) -> dict:
    """Mixed load for a.soak seconds; RSS after one minute and at the end."""
    server = Server(spec, rawdir / f"{spec['name']}-soak.log")
    names = ["Timeline", "Directory", "UserByHandle", "Profile", "Leaderboard", "TimelineDeep"]
    payloads = [p for op in names if (p := payload_for(op, spec["ops"], ctx["deep"]))]
    lua = rawdir / "soak.lua"
    write_lua(lua, payloads, ctx["handles"], {})
    samples = []
    try:
        server.start(f"{PG}/{ctx['db']}")
        started = time.monotonic()
        proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(LAST_CPU),
                "wrk",
                "-t1",
                f"-c{a.connections}",
                f"-d{a.soak}s",
                "--timeout",
                "30s",
                "-s",
                str(lua),
                spec["url"],
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        while proc.poll() is None:
            time.sleep(5)
            samples.append((round(time.monotonic() - started), group_memory(server.pgid)[0]))
        out = proc.communicate()[0]
    finally:
        server.stop()
    at_minute = next((kib for t, kib in samples if t >= 60), samples[0][1])
    end = samples[-1][1]
    match = re.search(r"^BENCH_JSON (.*)$", out, re.M)
    return {
        "seconds": a.soak,
        "rss_after_1_min_mib": round(at_minute / 1024, 1),
        "rss_at_end_mib": round(end / 1024, 1),
        "growth_pct": round(100 * (end - at_minute) / at_minute, 1),
        "samples_mib": [(t, round(k / 1024, 1)) for t, k in samples],
        "wrk": json.loads(match.group(1)) if match else None,
    }


# ---------------------------------------------------------------- report


def report(results: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> str:
    """Write the Markdown table and JSON; the Markdown text."""
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    ref = {(r["server"], r["operation"]): r for r in results if "rps" in r and "error" not in r}
    floor_sha = {r["operation"]: r.get("data_sha") for r in results if r["server"] == "floor"}
    lines = [
        f"# Wren benchmark ({meta['date']})",
        "",
        f"Dataset `{meta['db']}`: {meta['rows']}. Each server pinned to CPU 0 (N workers: "
        f"CPUs 0..N-1), wrk on CPU {LAST_CPU} (`wrk -t1 -c{meta['connections']} "
        f"-d{meta['duration']}s`, {meta['warmup']} s warm-up); PostgreSQL unpinned. "
        "SQL and round trips per request: 10 sequential requests after warm-up, counted by "
        "pg_stat_statements and by a protocol-counting proxy (Sync + Query messages). "
        "`data = floor`: same data as the floor's answer, cursors aside (opaque per server). "
        "`other CPU %`: unrelated processes on this host meanwhile (noise). "
        "LeaderboardCold: sequential requests, Wren's cache keys deleted before each.",
        "",
        "| server | operation | req/s | x PostGraphile | x naive | p50 ms | p99 ms | p99/p50 "
        "| errors | SQL/req | round trips/req | peak RSS MiB | data = floor | other CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|",
    ]
    for r in results:
        if "rps" not in r:
            reason = r.get("skipped") or r.get("error", "n/a")
            lines.append(f"| {r['server']} | {r['operation']} | {reason} |" + " |" * 11)
            continue
        if not r["requests"]:
            lines.append(
                f"| {r['server']} | {r['operation']} | 0 (none completed in "
                f"{meta['duration']} s) |"
                + " |" * 6
                + f" {r.get('sql_per_request', '')} |"
                + " |" * 4
            )
            continue
        op = "Timeline" if r["operation"] == "TimelineDeep" else r["operation"]
        pg, naive = ref.get(("postgraphile", op)), ref.get(("naive_strawberry", op))
        x_pg = f"{r['rps'] / pg['rps']:.2f}" if pg and pg["rps"] and r["operation"] == op else ""
        x_naive = ""
        if naive and naive["rps"] and r["operation"] == op:
            x_naive = f"{r['rps'] / naive['rps']:.1f}"
        same = ""
        if floor_sha.get(r["operation"]) and r["server"] != "postgraphile":
            same = "yes" if r.get("data_sha") == floor_sha[r["operation"]] else "no"
        errors = r["non2xx"] + r["socket_errors"] + r["graphql_errors"]
        lines.append(
            f"| {r['server']} | {r['operation']} | {r['rps']:.1f} | {x_pg} | {x_naive} | "
            f"{r['p50_us'] / 1000:.1f} | {r['p99_us'] / 1000:.1f} | "
            f"{r['p99_us'] / max(r['p50_us'], 1):.1f} | {errors} | "
            f"{r.get('sql_per_request', '')} | {r.get('round_trips_per_request', '')} | "
            f"{r.get('peak_rss_mib', '')} | {same} | {r.get('other_cpu_pct', '')} |"
        )
    deep = ref.get(("wren", "TimelineDeep"))
    first = ref.get(("wren", "Timeline"))
    if deep and first:
        lines += [
            "",
            f"Deep page (after item 10,000) vs first page, Wren p50: "
            f"{deep['p50_us'] / first['p50_us']:.2f}x; req/s {deep['rps'] / first['rps']:.2f}x.",
        ]
    warm, cold = ref.get(("wren", "Leaderboard")), ref.get(("wren", "LeaderboardCold"))
    if cold and cold.get("server_p50_ms") and cold.get("pair_ratio_p50"):
        lines += [
            "",
            f"Leaderboard (first: 50), sequential requests, server time p50 (Server-Timing): "
            f"cold cache {cold['server_p50_ms']:.2f} ms, warm cache "
            f"{cold['warm_server_p50_ms']:.2f} ms (the {WARM_AFTER_COLD} requests after each "
            f"cold one): warm is {cold['server_p50_ms'] / cold['warm_server_p50_ms']:.1f}x "
            f"faster; median of the {cold['requests']} pairs' ratios (a cold request / the "
            f"median of the warm ones after it): {cold['pair_ratio_p50']:.1f}x.",
        ]
        if warm and warm.get("server_p50_ms"):
            lines.append(
                f"Warm right after its wrk load: {warm['server_p50_ms']:.2f} ms "
                f"({cold['server_p50_ms'] / warm['server_p50_ms']:.1f}x; client-side p50 "
                f"{warm['sequential_p50_us'] / 1000:.1f} ms vs {cold['p50_us'] / 1000:.1f} ms "
                "cold)."
            )
    for name, row in ref.items():
        if name[0].startswith("wren-") and name[1] == "Timeline" and first:
            lines.append(
                f"{name[0]} on Timeline: {row['rps'] / first['rps']:.2f}x one worker's req/s."
            )
    if meta.get("soak"):
        s = meta["soak"]
        lines += [
            "",
            f"Soak ({s['seconds']} s of mixed load): RSS {s['rss_after_1_min_mib']} MiB after "
            f"1 min, {s['rss_at_end_mib']} MiB at the end ({s['growth_pct']:+.1f}%).",
        ]
    lines += ["", *meta.get("notes", []), "", "Host: " + meta["host"], ""]
    text = "\n".join(lines)
    out.with_suffix(".md").write_text(text)
    return text


def main() -> int:
    """Run the benchmark; exit status 1 when any measured operation failed."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ops", default=",".join(OPERATIONS), help="subset of " + ",".join(OPERATIONS))
    ap.add_argument("--peers", action="store_true", help="also PostGraphile, naive and floor")
    ap.add_argument("--only-peers", action="store_true", help="the peers without Wren")
    ap.add_argument("--servers", help="only these servers, e.g. wren,postgraphile")
    ap.add_argument("--workers", default="1", help="Wren worker counts to run, e.g. 1,2")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--cold-requests", type=int, default=20)
    ap.add_argument("--soak", type=int, default=0, help="seconds of mixed load to watch RSS")
    ap.add_argument("--db", default="wren_bench")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--cache-pattern", default="wren:*", help="keys LeaderboardCold deletes")
    ap.add_argument("--label", default="latest", help="bench/results/<label>.md and .json")
    ap.add_argument("--no-restart", action="store_true", help="never restart PostgreSQL")
    ap.add_argument("--report", type=Path, help="only rewrite the Markdown of a results JSON")
    a = ap.parse_args()
    if a.report:
        saved = json.loads(a.report.read_text())
        print(report(saved["results"], saved["meta"], a.report.with_suffix("")))
        return 0

    missing = [tool for tool in ("wrk", "taskset", "psql") if shutil.which(tool) is None]
    if missing:
        sys.exit(
            f"not found: {', '.join(missing)} (Debian: apt-get install wrk util-linux "
            "postgresql-client)"
        )
    ensure_database(a.db, a.users)
    ensure_pg_stat_statements(not a.no_restart)
    ops = [o for o in a.ops.split(",") if o in OPERATIONS]
    ctx: dict[str, Any] = {
        "db": a.db,
        "db_oid": psql(f"SELECT oid FROM pg_database WHERE datname = '{a.db}'"),
        "handles": int(psql("SELECT count(*) FROM users", a.db)),
        "deep": deep_cursor(a.db, 10_000),
        "redis_url": a.redis_url,
        "cache_pattern": a.cache_pattern,
    }
    rows_text = psql(
        "SELECT format('%s users, %s posts, %s comments, %s follows, %s likes', "
        "(SELECT count(*) FROM users), (SELECT count(*) FROM posts), (SELECT count(*) FROM "
        "comments), (SELECT count(*) FROM follows), (SELECT count(*) FROM likes))",
        a.db,
    )
    stamp = dt.datetime.now(dt.UTC)
    rawdir = HERE / "results" / "raw" / stamp.strftime("%Y%m%dT%H%M%S")
    rawdir.mkdir(parents=True, exist_ok=True)

    specs = servers(a)
    if a.only_peers:
        specs = [s for s in specs if not s["name"].startswith("wren")]
    if a.servers:
        specs = [s for s in specs if s["name"] in a.servers.split(",")]
    results: list[dict[str, Any]] = []
    for spec in specs:
        spec_ops = ops if spec["name"].startswith("wren") else [o for o in ops if o in PEER_OPS]
        if spec.get("workers", 1) > 1:
            spec_ops = [o for o in spec_ops if o == "Timeline"]
        print(f"== {spec['name']}", flush=True)
        try:
            rows = counting_pass(spec, spec_ops, ctx, rawdir)
            load_pass(spec, spec_ops, rows, a, ctx, rawdir)
        except RuntimeError as error:
            print(f"!! {spec['name']}: {error}", flush=True)
            rows = {"*": {"server": spec["name"], "operation": "*", "error": str(error)}}
        results += rows.values()

    meta = {
        "date": stamp.strftime("%Y-%m-%d %H:%M UTC"),
        "db": a.db,
        "rows": rows_text,
        "connections": a.connections,
        "duration": a.duration,
        "warmup": a.warmup,
        "host": f"{os.cpu_count()} CPUs, Linux {os.uname().release}, "
        f"PostgreSQL {psql('SHOW server_version')}",
        "raw": str(rawdir.relative_to(HERE)),
    }
    if a.soak:
        print(f"== soak: {a.soak} s of mixed load", flush=True)
        meta["soak"] = soak(servers(a)[0], a, ctx, rawdir)
    out = HERE / "results" / a.label
    text = report(results, meta, out)
    print(f"\nwrote {out.with_suffix('.md')} and .json\n\n{text}")
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
