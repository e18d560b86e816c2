"""Deterministic demo data, generated inside PostgreSQL with set-based SQL.

Every value derives from hashint8extended(row number, seed), so the same --users and
--seed give the same rows on any machine. Activity is skewed like a real network: a few
users write most posts, a few posts draw most comments and likes, a few users are
followed by many. With seed 0 the rows are those of the shared benchmark dataset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import gcd

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# argon2id of "wren-demo-password": seeded users share it, so hashing never slows seeding.
DEMO_PASSWORD = "wren-demo-password"  # noqa: S105 - documented demo credential
# The hash of the documented demo password, not a secret.
_HASH = "$argon2id$v=19$m=65536,t=3,p=4$IPvbmEec0mSGG5w+rigR+Q$"
DEMO_PASSWORD_HASH = _HASH + "1YB+81nNe9NXhXiJNEByR+Z1+f7Aa2kOUK/FCjcPl/k"

_PREPARE = """
DROP SCHEMA IF EXISTS wren_seed CASCADE;
CREATE SCHEMA wren_seed;
CREATE FUNCTION wren_seed.u(i bigint, seed bigint) RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT (hashint8extended(i, seed) & 9007199254740991)::float8 / 9007199254740992.0 $$;
CREATE FUNCTION wren_seed.ts(x double precision) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT timestamptz '2025-01-01 00:00:00+00' + make_interval(secs => floor(x * 31536000)) $$;
CREATE FUNCTION wren_seed.words(i bigint, seed bigint, n int) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT string_agg((ARRAY['lorem','ipsum','dolor','sit','amet','wren','graph','query',
                                'post','feed','river','stone','light','north','quiet','paper',
                                'signal','garden','orbit','cable'])
                          [1 + floor(wren_seed.u(i * 64 + k, seed) * 20)::int], ' ')
           FROM generate_series(1, n) k $$;
"""

# {s} is added to every stream's seed; {perm} is coprime with {nusers}, so
# ((r - 1) * perm) % n + 1 is a fixed permutation that spreads the busiest users out.
_FILL = """
INSERT INTO users (id, handle, display_name, bio, password_hash, created_at)
SELECT i, 'user' || i, 'User ' || i,
       CASE WHEN wren_seed.u(i, {s} + 11) < 0.2 THEN NULL
            ELSE 'Bio of user ' || i || ': ' || wren_seed.words(i, {s} + 12, 6) END,
       '{password_hash}',
       timestamptz '2025-01-01 00:00:00+00'
         + make_interval(secs => floor((i - 1) * 31536000.0 / {nusers}))
FROM generate_series(1, {nusers}) i;

INSERT INTO posts (id, author_id, title, body, created_at)
SELECT i,
       ((floor({nusers} * wren_seed.u(i, {s} + 21) ^ 2)::bigint) * {perm}) % {nusers} + 1,
       initcap(wren_seed.words(i, {s} + 22, 3 + floor(wren_seed.u(i, {s} + 23) * 5)::int))
         || ' #' || i,
       wren_seed.words(i, {s} + 24, 20 + floor(wren_seed.u(i, {s} + 25) * 60)::int),
       wren_seed.ts(wren_seed.u(i, {s} + 26))
FROM generate_series(1, {nposts}) i;

INSERT INTO comments (id, post_id, author_id, body, created_at)
SELECT g.i, p.id, 1 + floor({nusers} * wren_seed.u(g.i, {s} + 32))::bigint,
       wren_seed.words(g.i, {s} + 33, 5 + floor(wren_seed.u(g.i, {s} + 34) * 25)::int),
       p.created_at + make_interval(secs => floor(wren_seed.u(g.i, {s} + 35) * 2592000))
FROM (SELECT i, 1 + floor({nposts} * wren_seed.u(i, {s} + 31) ^ 1.5)::bigint AS post_id
      FROM generate_series(1, {ncomments}) i) g
JOIN posts p ON p.id = g.post_id;

INSERT INTO follows (follower_id, followee_id, created_at)
SELECT f, e, ts FROM (
  SELECT DISTINCT ON (f, e) f, e, ts, i FROM (
    SELECT i,
           1 + floor({nusers} * wren_seed.u(i, {s} + 41))::bigint AS f,
           ((floor({nusers} * wren_seed.u(i, {s} + 42) ^ 2)::bigint) * {perm}) % {nusers} + 1
             AS e,
           wren_seed.ts(wren_seed.u(i, {s} + 43)) AS ts
    FROM generate_series(1, ({nfollows} * 1.5)::bigint) i) c
  WHERE f <> e
  ORDER BY f, e, i) d
ORDER BY i
LIMIT {nfollows};

INSERT INTO likes (user_id, post_id, created_at)
SELECT u, p, ts FROM (
  SELECT DISTINCT ON (u, p) u, p, ts, i FROM (
    SELECT i,
           1 + floor({nusers} * wren_seed.u(i, {s} + 51))::bigint AS u,
           1 + floor({nposts} * wren_seed.u(i, {s} + 52) ^ 1.5)::bigint AS p,
           wren_seed.ts(wren_seed.u(i, {s} + 53)) AS ts
    FROM generate_series(1, ({nlikes} * 1.1)::bigint) i) c
  ORDER BY u, p, i) d
ORDER BY i
LIMIT {nlikes};

SELECT setval(pg_get_serial_sequence('users', 'id'), {nusers});
SELECT setval(pg_get_serial_sequence('posts', 'id'), {nposts});
SELECT setval(pg_get_serial_sequence('comments', 'id'),
              greatest((SELECT max(id) FROM comments), 1));
DROP SCHEMA wren_seed CASCADE;
"""


@dataclass(frozen=True)
class SeedReport:
    """What a seed run created and how long it took."""

    users: int
    posts: int
    comments: int
    follows: int
    likes: int
    seconds: float


def _permutation_step(n: int) -> int:
    step = 7919
    while gcd(step, n) != 1:
        step += 2
    return step


async def seed(
    engine: AsyncEngine, users: int, seed: int = 0, *, replace: bool = False
) -> SeedReport:
    """Fill the (empty, or emptied with replace=True) contract tables with demo data."""
    if users < 1:
        raise ValueError("users must be at least 1")
    started = time.monotonic()
    values = {
        "s": seed * 1000,
        "nusers": users,
        "nposts": users * 10,
        "ncomments": users * 30,
        "nfollows": min(users * 20, users * (users - 1)),
        "nlikes": users * 100,
        "perm": _permutation_step(users),
        "password_hash": DEMO_PASSWORD_HASH,
    }
    async with engine.begin() as conn:
        if replace:
            await conn.execute(
                text("TRUNCATE users, posts, comments, follows, likes RESTART IDENTITY CASCADE")
            )
        elif (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM users)"))).scalar():
            raise RuntimeError("the database already has users; pass replace=True to empty it")
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.execute("SET LOCAL work_mem = '256MB'")
        await driver.execute(_PREPARE)
        await driver.execute(_FILL.format(**values))
        counts = (
            await conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM posts),"
                    " (SELECT count(*) FROM comments), (SELECT count(*) FROM follows),"
                    " (SELECT count(*) FROM likes)"
                )
            )
        ).one()
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE users, posts, comments, follows, likes"))
    users_n, posts_n, comments_n, follows_n, likes_n = counts
    return SeedReport(users_n, posts_n, comments_n, follows_n, likes_n, time.monotonic() - started)
