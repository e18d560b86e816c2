"""The cached fields of one request: User.stats and User.recommendedUsers, and their counts."""

from __future__ import annotations

from functools import cached_property

from aiodataloader import DataLoader

from wren.cache.codec import IdsCodec, StatsCodec
from wren.cache.counters import CacheCounters
from wren.cache.keys import Kind
from wren.cache.loader import cached_loader
from wren.cache.store import CacheStore
from wren.db.loaders import Loaders, UserStatsRow


class RequestCache:
    """The cache as one request sees it: cached loaders over the request's own Loaders."""

    def __init__(self, store: CacheStore, loaders: Loaders) -> None:
        self.store = store
        self.loaders = loaders
        self.counters = CacheCounters()

    def renewed(self, loaders: Loaders) -> RequestCache:
        """The same cache without this request's memo (after the request wrote), same counts."""
        fresh = RequestCache(self.store, loaders)
        fresh.counters = self.counters
        return fresh

    @cached_property
    def stats(self) -> DataLoader[int, UserStatsRow]:
        """A user's activity aggregates, from the cache or computed (USER_STATS)."""
        return cached_loader(
            self.store, Kind.STATS, StatsCodec(), self.loaders.stats.load_many, self.counters
        )

    @cached_property
    def recommendations(self) -> DataLoader[int, list[int]]:
        """A user's recommended user ids, best first, from the cache or computed."""
        return cached_loader(
            self.store,
            Kind.RECOMMENDATIONS,
            IdsCodec(),
            self.loaders.recommendations.load_many,
            self.counters,
        )
