"""The cached fields of one request: User.stats and User.recommendedUsers, and their counts."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import cached_property
from typing import Any, NamedTuple

from aiodataloader import DataLoader

from wren.cache.codec import RecommendationsCodec, StatsCodec
from wren.cache.counters import CacheCounters
from wren.cache.keys import Kind
from wren.cache.loader import CachedBatch
from wren.cache.store import CacheStore
from wren.db.engine import Row
from wren.db.loaders import Loaders, UserStatsRow, users_by_id


class Recommended(NamedTuple):
    """The first `first` recommended users of `user`."""

    user: int
    first: int


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
    def stats_of(self) -> CachedBatch[UserStatsRow]:
        """Many users' activity aggregates, in order, from the cache or computed
        (USER_STATS): one batch for a whole level, without a future per user."""
        return CachedBatch(
            self.store, Kind.STATS, StatsCodec(), self.loaders.stats.load_many, self.counters
        )

    @cached_property
    def stats(self) -> DataLoader[int, UserStatsRow]:
        """A user's activity aggregates, by user id (batches of stats_of)."""
        return DataLoader(batch_load_fn=self.stats_of.__call__)

    @cached_property
    def recommended_of(
        self,
    ) -> Callable[[list[Recommended]], Coroutine[Any, Any, list[list[Row]]]]:
        """The rows of the first n recommended users of many users, best first, in the
        order of the Recommended keys: one batch for a whole level.

        The batch reads the cached entries itself (not through a loader of its own), so
        that read leaves in the same turn of the event loop as the stats' and shares their
        Redis round trip. The entries hold the first users' rows; longer lists read theirs
        in one statement for the whole batch.
        """
        recommendations = CachedBatch(
            self.store,
            Kind.RECOMMENDATIONS,
            RecommendationsCodec(),
            self.loaders.recommendations.load_many,
            self.counters,
        )
        db = self.loaders.db  # not self: no cycle through the closure

        async def batch(keys: list[Recommended]) -> list[list[Row]]:
            users = list(dict.fromkeys(key.user for key in keys))
            ranked = dict(zip(users, await recommendations(users), strict=True))
            shown = [ranked[key.user].rows(key.first) for key in keys]
            wanted = {
                pk
                for key, rows in zip(keys, shown, strict=True)
                if rows is None
                for pk in ranked[key.user].ids[: key.first]
            }
            by_id = await users_by_id(db, wanted)
            return [
                rows
                if rows is not None
                # A user deleted since the entry was computed has no row: left out.
                else [by_id[pk] for pk in ranked[key.user].ids[: key.first] if pk in by_id]
                for key, rows in zip(keys, shown, strict=True)
            ]

        return batch

    @cached_property
    def recommended_users(self) -> DataLoader[Recommended, list[Row]]:
        """The rows of a user's first n recommended users, best first, by Recommended key
        (batches of recommended_of): one future per user for the resolver."""
        return DataLoader(batch_load_fn=self.recommended_of)
