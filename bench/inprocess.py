"""CPU per request in-process: a checkout's app driven through ASGI, no HTTP server, no wrk.

    .venv/bin/python bench/inprocess.py --root . --ops Typename,Timeline,Directory,UserByHandle
    .venv/bin/python bench/inprocess.py --root ../base --root . --rounds 5   # A/B, alternated
    .venv/bin/python bench/inprocess.py --root ../base --root . --direct     # no HTTP client
    .venv/bin/python bench/inprocess.py --root . --variant off \
        --variant metrics:WREN_METRICS_PORT=9464 \
        --variant traced:OTEL_EXPORTER_OTLP_ENDPOINT={sink},OTEL_TRACES_SAMPLER_ARG=0.01,\
OTEL_TRACES_SAMPLER=parentbased_traceidratio
    .venv/bin/python bench/inprocess.py --root . --variant off \
        --variant hit:WREN_RESPONSE_CACHE=true \
        --variant miss:WREN_RESPONSE_CACHE=true,BENCH_RESPONSE_MISS=1

Each round starts one process per checkout (its own `src/` first on the path) that warms
up, then times N sequential requests per operation with `time.process_time` (CPU, not
wall time: less sensitive to other processes on a shared host). Rounds alternate the
checkouts so drift on the host affects both; the report gives per-checkout medians of the
per-round medians, and the ratio to the first checkout. Needs the benchmark database.

`--variant LABEL[:NAME=VALUE,...]` compares settings instead of checkouts: the first root
run with those environment variables (`{sink}` is the URL of an OTLP/HTTP receiver this
process runs, which accepts and drops spans: exporting them costs the server what it
would cost with a real collector). `BENCH_RESPONSE_MISS=1` drops the cache before each
timed request (untimed), so that with WREN_RESPONSE_CACHE every one is a miss.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench import appchild  # noqa: E402
from bench.paths import CONTRACT_OPS  # noqa: E402

VARIABLES: dict[str, dict[str, Any]] = {
    "Timeline": {"first": 20},
    "Directory": {"first": 50},
    "UserByHandle": {"handle": "user1"},
    "Profile": {"handle": "user1"},
    "Leaderboard": {"first": 50},
    "Typename": {},
}
# Operations of the benchmark's own, beside the contract's: the smallest request there is
# (what a request costs before any SQL).
OWN_OPS = {"Typename": "{ __typename }"}


def _document(name: str) -> str:
    if name in OWN_OPS:
        return OWN_OPS[name]
    return (CONTRACT_OPS / "operations" / f"{name}.graphql").read_text()


_CHILD = r"""
import os, statistics, time
import json as _json

class Direct:
    # POST /graphql as a server would call the app: one ASGI call, no HTTP client.

    def __init__(self, app):
        self.app = app

    async def post(self, path, json):
        payload = _json.dumps(json).encode()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000), "state": {},
            "headers": [(b"host", b"b"), (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode())],
        }
        messages = [{"type": "http.request", "body": payload, "more_body": False}]
        sent = []

        async def receive():
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        await self.app(scope, receive, send)
        content = b"".join(m.get("body", b"") for m in sent[1:])
        return httpx.Response(sent[0]["status"], content=content)

async def measure(http, spec, app):
    # Every timed request a miss of the response cache (dropped before it, untimed).
    miss = os.environ.get("BENCH_RESPONSE_MISS") == "1"
    out = {}
    for name, (text, variables) in spec["ops"].items():
        body = {"query": text, "variables": variables}
        for _ in range(spec["warmup"]):
            response = await http.post("/graphql", json=body)
            ok = response.status_code == 200 and "errors" not in response.json()
            assert ok, response.text
        times = []
        for _ in range(spec["requests"]):
            if miss:
                assert await app.state.resources.cache.bump_epoch()
            started = time.process_time()
            await http.post("/graphql", json=body)
            times.append(time.process_time() - started)
        out[name] = statistics.median(times) * 1000
    return out

async def main(spec):
    async with app_client(spec) as (app, http):
        out = await measure(Direct(app) if spec["direct"] else http, spec, app)
    print(json.dumps(out))

asyncio.run(main(spec))
"""


class _Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that takes every export and keeps nothing, on keep-alive
    connections as a collector's are (an exporter then connects once, not per export)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def _sink() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def _variant(text: str, sink: str) -> tuple[str, dict[str, str]]:
    """LABEL[:NAME=VALUE,...] -> the label and its environment."""
    label, _, pairs = text.partition(":")
    env = {}
    for pair in filter(None, pairs.split(",")):
        name, _, value = pair.partition("=")
        env[name] = value.replace("{sink}", sink)
    return label, env


def _round(root: Path, spec: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    result: dict[str, float] = appchild.run(
        _CHILD,
        root / "src",
        spec,
        python=root / ".venv" / "bin" / "python",
        env={**os.environ, **env},
    )
    return result


def main() -> int:
    """Run the rounds and print a Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--root", action="append", type=Path, required=True)
    ap.add_argument("--variant", action="append", default=[], help="LABEL[:NAME=VALUE,...]")
    ap.add_argument("--ops", default="Timeline,Directory,UserByHandle")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument(
        "--direct",
        action="store_true",
        help="call the app as an ASGI server would, without httpx (whose own CPU per "
        "request would otherwise be counted)",
    )
    ap.add_argument("--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/wren_bench")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    a = ap.parse_args()
    ops = {name: (_document(name), VARIABLES[name]) for name in a.ops.split(",")}
    spec = {
        "db": a.db,
        "redis": a.redis_url,
        "ops": ops,
        "requests": a.requests,
        "warmup": a.warmup,
        "direct": a.direct,
    }
    roots = [root.resolve() for root in a.root]
    if a.variant:
        sink = _sink()
        subjects = [(label, roots[0], env) for label, env in (_variant(v, sink) for v in a.variant)]
    else:
        subjects = [(str(root), root, {}) for root in roots]
    rounds: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in subjects}
    for n in range(a.rounds):
        for label, root, env in subjects if n % 2 == 0 else list(reversed(subjects)):
            rounds[label].append(_round(root, spec, env))
    labels = list(rounds)
    print("| operation | " + " | ".join(labels) + " | ratio to first |")
    print("|---|" + "---:|" * (len(labels) + 1))
    for name in ops:
        medians = [statistics.median(r[name] for r in rounds[label]) for label in labels]
        ratios = ", ".join(f"{m / medians[0]:.3f}" for m in medians[1:])
        cells = " | ".join(f"{m:.3f} ms" for m in medians)
        print(f"| {name} | {cells} | {ratios} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
