"""What the cache did: counted per request and per process."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class CacheCounters:
    """Entries served from Redis (hits), not found (misses), computed from PostgreSQL
    (computed), taken from another request's or process's computation (shared), and cache
    calls that failed or were skipped by the open circuit breaker (errors)."""

    hits: int = 0
    misses: int = 0
    computed: int = 0
    shared: int = 0
    errors: int = 0

    def add(self, other: CacheCounters) -> None:
        """Fold another set of counts into this one."""
        self.hits += other.hits
        self.misses += other.misses
        self.computed += other.computed
        self.shared += other.shared
        self.errors += other.errors

    def as_dict(self) -> dict[str, int]:
        """The counts, for a response extension or a log line."""
        return asdict(self)
