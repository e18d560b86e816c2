"""The cached fields of one request: User.stats and User.recommendedUsers, and their counts."""

from __future__ import annotations

from functools import cached_property
from typing import NamedTuple

from aiodataloader import DataLoader

from wren.cache.codec import IdsCodec, StatsCodec
from wren.cache.counters import CacheCounters
from wren.cache.keys import Kind
from wren.cache.loader import cached_loader
from wren.cache.store import CacheStore
from wren.db import queries
from wren.db.engine import Row
from wren.db.loaders import Loaders, UserStatsRow


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

    @cached_property
    def recommended_users(self) -> DataLoader[Recommended, list[Row]]:
        """The rows of a user's first n recommended users, best first, by Recommended key.

        One future per user for the resolver: the cached ids of the whole batch, then the
        rows of every id any of them shows, in one statement.
        """
        ids_of = self.recommendations.load_many  # not self: no cycle through the closure
        fetch = self.loaders.db.fetch

        async def batch(keys: list[Recommended]) -> list[list[Row]]:
            shown = [
                ids[: key.first]
                for key, ids in zip(keys, await ids_of([key.user for key in keys]), strict=True)
            ]
            wanted = list({pk for ids in shown for pk in ids})
            found = await fetch(queries.USERS_BY_ID, {"ids": wanted}) if wanted else []
            rows = {row["id"]: row for row in found}
            # A user deleted since the entry was computed has no row: left out.
            return [[rows[pk] for pk in ids if pk in rows] for ids in shown]

        return DataLoader(batch_load_fn=batch)
