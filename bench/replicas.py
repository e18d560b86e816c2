"""Read replicas, measured in-process: the share of reads a replica serves under a mixed
load with writes, and the latency that routing adds.

    .venv/bin/python bench/replicas.py                 # 1,000 users, 8 clients x 150 requests
    .venv/bin/python bench/replicas.py --users 2000 --clients 16 --requests 200

It starts a primary and a streaming replica of its own (deploy/postgres.py:
initdb and pg_basebackup in a temporary directory, free ports, stopped at the end),
seeds the primary, and drives two app instances through ASGI (no HTTP server): one
with WREN_DATABASE_REPLICA_URLS, one with the primary alone, both on the real Redis.

- Mixed load: concurrent clients, each a fixed number of requests: anonymous reads
  (Timeline, UserByHandle, Profile), logged-in reads (Feed) and writes (createPost,
  likePost). Reported: the read statements each server ran (the Database's routing
  counters), why reads went to the primary, and failed requests.
- Routing latency: sequential requests alternating between the two instances in
  blocks, wall time per request (medians), for an anonymous read, a logged-in read
  (its read-your-writes mark is looked up in Redis) and a write (its commit position is
  read and marked). Both servers run on this machine, so the difference is routing's
  cost, not network distance.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import httpx  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from bench.paths import CONTRACT_OPS  # noqa: E402
from deploy.postgres import StreamingPair  # noqa: E402
from tests.sessions import session_token  # noqa: E402
from wren.app import Resources, create_app  # noqa: E402
from wren.db.engine import create_engine  # noqa: E402
from wren.db.migrate import migrate  # noqa: E402
from wren.db.seed import seed  # noqa: E402
from wren.ids import to_global_id  # noqa: E402
from wren.settings import Settings  # noqa: E402

REDIS = "redis://127.0.0.1:6379/0"
RESULTS = HERE / "results"
CREATE = 'mutation($t: String!) { createPost(input: {title: $t, body: "b"}) { id } }'
LIKE = "mutation($p: ID!) { likePost(postId: $p) { likeCount } }"


def _op(name: str) -> str:
    return (CONTRACT_OPS / "operations" / f"{name}.graphql").read_text()


async def _clear(namespace: str) -> None:
    redis = Redis.from_url(REDIS)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{namespace}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await redis.unlink(*keys[start : start + 1000])
    finally:
        await redis.aclose()


class Instance:
    """One in-process app instance and its client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self._lifespan: Any = None
        self.client: httpx.AsyncClient | None = None
        self.tokens: dict[int, str] = {}

    async def __aenter__(self) -> Instance:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        transport = httpx.ASGITransport(app=self.app)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://bench")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()
        await self._lifespan.__aexit__(*exc)

    @property
    def resources(self) -> Resources:
        res: Resources = self.app.state.resources
        return res

    async def post(self, query: str, variables: dict[str, Any], viewer: int | None) -> bool:
        """One request; True when it answered without an error."""
        assert self.client is not None
        headers = {}
        if viewer is not None:
            if viewer not in self.tokens:
                # A session opened in the primary, as a log-in opens one.
                accounts = self.resources.accounts
                self.tokens[viewer] = session_token(self.settings, viewer, accounts=accounts)
            headers["authorization"] = f"Bearer {self.tokens[viewer]}"
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        return response.status_code == 200 and "errors" not in response.json()


def _request(rng: random.Random, users: int, posts: int) -> tuple[str, dict[str, Any], int | None]:
    """One request of the mixed load: 60 % anonymous reads, 30 % logged-in reads, 10 % writes."""
    roll = rng.random()
    user = rng.randint(1, users)
    if roll < 0.2:
        return _op("Timeline"), {"first": 20}, None
    if roll < 0.4:
        return _op("UserByHandle"), {"handle": f"user{user}"}, None
    if roll < 0.6:
        return _op("Profile"), {"handle": f"user{user}"}, None
    if roll < 0.9:
        return _op("Feed"), {"first": 20}, user
    if roll < 0.95:
        return CREATE, {"t": f"bench {rng.random():.6f}"}, user
    return LIKE, {"p": to_global_id("Post", rng.randint(1, posts))}, user


async def mixed_load(
    instance: Instance, *, clients: int, requests: int, users: int, posts: int
) -> dict[str, Any]:
    """Bounded concurrent mixed load on one instance; counters before and after."""
    db = instance.resources.db
    before = dict(vars(db.routing))
    failures = 0
    started = time.perf_counter()

    async def client(index: int) -> None:
        nonlocal failures
        rng = random.Random(index)  # noqa: S311 - a load mix
        for _ in range(requests):
            query, variables, viewer = _request(rng, users, posts)
            if not await instance.post(query, variables, viewer):
                failures += 1

    async with asyncio.timeout(600):
        await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    after = vars(db.routing)
    delta = {key: after[key] - before[key] for key in after}
    reads = delta["replica_reads"] + delta["primary_reads"]
    return {
        "requests": clients * requests,
        "failed": failures,
        "seconds": round(elapsed, 2),
        "read_statements": reads,
        "replica_share": round(delta["replica_reads"] / reads, 4) if reads else 0.0,
        **delta,
        "replicas": db.replicas.status() if db.replicas else [],
    }


async def latency(
    routed: Instance, alone: Instance, *, blocks: int, per_block: int, users: int
) -> dict[str, Any]:
    """Median wall time per request (ms), routed vs primary alone, alternating blocks."""
    cases: dict[str, tuple[str, dict[str, Any], int | None]] = {
        "UserByHandle, anonymous": (_op("UserByHandle"), {"handle": "user7"}, None),
        "Feed, logged in": (_op("Feed"), {"first": 20}, 7),
        "createPost": (CREATE, {"t": "latency"}, users),
    }
    out: dict[str, Any] = {}
    for name, (query, variables, viewer) in cases.items():
        times: dict[str, list[float]] = {"routed": [], "primary alone": []}
        for instance in (routed, alone):  # warm both
            for _ in range(20):
                assert await instance.post(query, variables, viewer)
        for block in range(blocks):
            order = [("routed", routed), ("primary alone", alone)]
            if block % 2:
                order.reverse()
            for label, instance in order:
                for _ in range(per_block):
                    started = time.perf_counter()
                    ok = await instance.post(query, variables, viewer)
                    times[label].append((time.perf_counter() - started) * 1000)
                    assert ok
        medians = {label: statistics.median(values) for label, values in times.items()}
        out[name] = {
            "routed_ms": round(medians["routed"], 3),
            "primary_alone_ms": round(medians["primary alone"], 3),
            "added_ms": round(medians["routed"] - medians["primary alone"], 3),
        }
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    pair = StreamingPair()
    namespace = f"wren-bench-replicas-{uuid.uuid4().hex[:8]}"
    try:
        await asyncio.to_thread(pair.start)
        await pair.primary("CREATE DATABASE wren")
        primary = pair.url(pair.primary_port, "wren")
        await asyncio.to_thread(migrate, primary)
        engine = create_engine(Settings(_env_file=None, database_url=primary))
        report = await seed(engine, args.users)
        await engine.dispose()
        await pair.caught_up(120)
        common: dict[str, Any] = {
            "_env_file": None,
            "database_url": primary,
            "redis_url": REDIS,
            "cache_namespace": namespace,
            "environment": "production",
            "jwt_secret": "x" * 40,
            "log_level": "warning",
            "pool_size": 10,
        }
        routed_settings = Settings(
            **common,
            database_replica_urls=pair.url(pair.replica_port, "wren"),
            replica_max_lag=args.max_lag,
        )
        alone_settings = Settings(**common)
        async with Instance(routed_settings) as routed, Instance(alone_settings) as alone:
            load = await mixed_load(
                routed,
                clients=args.clients,
                requests=args.requests,
                users=args.users,
                posts=report.posts,
            )
            timing = await latency(
                routed, alone, blocks=args.blocks, per_block=args.per_block, users=args.users
            )
        return {
            "users": args.users,
            "max_lag": args.max_lag,
            "clients": args.clients,
            "requests_per_client": args.requests,
            "mixed_load": load,
            "latency": timing,
        }
    finally:
        await _clear(namespace)
        await asyncio.to_thread(pair.stop)


def _markdown(result: dict[str, Any]) -> str:
    load = result["mixed_load"]
    lines = [
        "# Read replicas",
        "",
        f"{result['users']} users; WREN_REPLICA_MAX_LAG={result['max_lag']}; mixed load of"
        f" {result['clients']} clients x {result['requests_per_client']} requests"
        " (60 % anonymous reads, 30 % logged-in Feed, 10 % writes).",
        "",
        "| requests | failed | read statements | replica share | replica | primary |"
        " fallbacks | pinned | behind | unusable | unsure |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {load['requests']} | {load['failed']} | {load['read_statements']} |"
        f" {load['replica_share']:.1%} | {load['replica_reads']} | {load['primary_reads']} |"
        f" {load['fallbacks']} | {load['pinned']} | {load['behind']} | {load['unusable']} |"
        f" {load['unsure']} |",
        "",
        "| request | routed p50 ms | primary alone p50 ms | added ms |",
        "|---|---:|---:|---:|",
    ]
    for name, row in result["latency"].items():
        lines.append(
            f"| {name} | {row['routed_ms']} | {row['primary_alone_ms']} | {row['added_ms']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--max-lag", type=float, default=5.0)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--per-block", type=int, default=30)
    parser.add_argument("--label", default="replicas")
    options = parser.parse_args()
    outcome = asyncio.run(main(options))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{options.label}.json").write_text(json.dumps(outcome, indent=2) + "\n")
    (RESULTS / f"{options.label}.md").write_text(_markdown(outcome))
    print(_markdown(outcome))
