"""Emptying Wren's Redis cache between cold requests, without touching anyone else's keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ColdCache:
    """The cache keys that LeaderboardCold deletes before each request."""

    redis_url: str
    pattern: str

    def clear(self) -> int:
        """Delete the cache's keys (SCAN + DEL of `pattern` only: the Redis is shared)."""
        # Imported here: `--help` and `--report` run without the project's dependencies.
        from redis import Redis

        client = Redis.from_url(self.redis_url)
        try:
            keys = list(client.scan_iter(match=self.pattern, count=1000))
            return int(client.delete(*keys)) if keys else 0
        finally:
            client.close()
