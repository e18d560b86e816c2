"""Per-request DataLoaders: every lookup of a request is batched into one statement per tick.

A Loaders object is built for each request and dropped with it: a loader's memo must
never serve one request's rows (and viewer) to another. Loaders are created lazily, so
a request only pays for the ones it uses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Coroutine, Sequence
from functools import cached_property
from typing import Any, NamedTuple

from aiodataloader import DataLoader
from orjson import Fragment
from sqlalchemy import Executable

from wren.db import queries
from wren.db.dataloader import BatchLoader
from wren.db.engine import Reader, Row
from wren.ids import Keyset


class PageKey(NamedTuple):
    """One page of a parent's list: `first` items after the cursor (None: from the start)."""

    parent: int
    first: int
    after: Keyset | None


class LikeKey(NamedTuple):
    """Whether `user` likes `post`."""

    user: int
    post: int


class Page(NamedTuple):
    """Rows of one page, fetched with one extra row to know whether more follow (and the
    whole list's length, when the statement counted it)."""

    rows: Sequence[Row]
    has_next: bool
    total: int | None = None


MAX_RECOMMENDED = 50
# How many recommended users come with their public columns: enough for the lists
# clients show (the contract's operations ask for 3 and 5), few enough to keep entries small
# (a page of 50 entries is one Redis reply).
PROFILED = 5


class Recommendations(NamedTuple):
    """A user's recommended users, best first: up to MAX_RECOMMENDED ids, and the users
    rows (id, handle, display_name, bio, created_at) of the first PROFILED of them.

    `users` holds those rows as computed, or as the cache stores them with `row_of` to
    turn one (with its id) into a row: only the rows a request shows are built.
    """

    ids: list[int]
    users: list[Any]
    row_of: Callable[[int, Any], Any] | None = None

    def rows(self, first: int) -> list[Any] | None:
        """The first `first` users' rows, if this holds them all."""
        if first > len(self.users) and len(self.users) < len(self.ids):
            return None
        chosen = self.users[:first]
        if self.row_of is None:
            return chosen
        row_of = self.row_of
        return [row_of(pk, user) for pk, user in zip(self.ids, chosen, strict=False)]


class UserStatsRow(NamedTuple):
    """A user's activity aggregates (a tuple: fifty of them are decoded per cached page)."""

    post_count: int
    comment_count: int
    follower_count: int
    following_count: int
    likes_received: int
    comments_received: int

    @classmethod
    def from_row(cls, row: Any) -> UserStatsRow:
        """From a USER_STATS row."""
        return cls(
            row["post_count"],
            row["comment_count"],
            row["follower_count"],
            row["following_count"],
            row["likes_received"],
            row["comments_received"],
        )

    @property
    def engagement_score(self) -> float:
        """(likes received + 2 x comments received) / max(posts, 1)."""
        return (self.likes_received + 2 * self.comments_received) / max(self.post_count, 1)


async def users_by_id(db: Reader, ids: Collection[int]) -> dict[int, Row]:
    """User rows by id in one statement (none for no ids), for a batch function that
    already holds every id it needs: no loader future per id."""
    if not ids:
        return {}
    return {row["id"]: row for row in await db.fetch(queries.USERS_BY_ID, {"ids": list(ids)})}


def _page(rows: Sequence[Row], first: int) -> Page:
    return Page(rows[:first], len(rows) > first)


BatchFn = Callable[[list[Any]], Coroutine[Any, Any, list[Any]]]


def _statement_names() -> dict[Any, str]:
    """Each batch statement of queries.py by its name there, lower-cased (a loader's name)."""
    names: dict[Any, str] = {}
    for name, value in vars(queries).items():
        if name.startswith("_"):
            continue
        if isinstance(value, queries.Listing) and value.parent is not None:
            names[value.per_parent] = name.lower()
        elif isinstance(value, Executable):
            names[value] = name.lower()
    return names


_NAMES = _statement_names()


def _loader(batch: BatchFn, db: Reader, statement: Executable) -> DataLoader[Any, Any]:
    # Observed (size, span) when telemetry is on; named after the batch's first statement.
    telemetry = db.telemetry
    if telemetry is not None:
        batch, sizes = telemetry.loader_batch(_NAMES.get(statement, "other"), batch)
        return BatchLoader(batch, sizes)
    # Keys are ints, strings and NamedTuples: all hashable as they are.
    return BatchLoader(batch)


def _page_params(keys: list[PageKey]) -> dict[str, Any]:
    return queries.page_params(
        [k.parent for k in keys],
        [k.first + 1 for k in keys],
        [k.after.at if k.after else None for k in keys],
        [k.after.id if k.after else None for k in keys],
    )


def _counted_pages_batch(db: Reader, statement: Executable) -> BatchFn:
    """Pages with their list's total from one counted Listing.per_parent statement."""
    fetch = db.fetch  # not the Loaders: a closure over them would make a cycle

    async def batch(keys: list[PageKey]) -> list[Page]:
        grouped: defaultdict[int, list[Row]] = defaultdict(list)
        totals: dict[int, int] = {}
        for row in await fetch(statement, _page_params(keys)):
            ord_ = row["ord"]
            totals[ord_] = row["total"]
            if row["id"] is not None:  # an empty page's one row holds only the total
                grouped[ord_].append(row)
        return [
            Page(*_page(grouped[i], key.first)[:2], totals.get(i, 0))
            for i, key in enumerate(keys, start=1)
        ]

    return batch


def _pages_batch(db: Reader, statement: Executable) -> BatchFn:
    """Pages for PageKeys from one Listing.per_parent statement."""
    fetch = db.fetch  # not the Loaders: a closure over them would make a cycle

    async def batch(keys: list[PageKey]) -> list[Page]:
        grouped: defaultdict[int, list[Row]] = defaultdict(list)
        for row in await fetch(statement, _page_params(keys)):
            grouped[row["ord"]].append(row)
        return [_page(grouped[i], key.first) for i, key in enumerate(keys, start=1)]

    return batch


class Loaders:
    """The DataLoaders of one request, each created on first use.

    Batch functions close over the request's reader (db/routing.py), never over the
    Loaders: a Loaders -> DataLoader -> batch -> Loaders cycle would keep every row a
    request read alive until the garbage collector ran, instead of freeing it with the
    request. The computations of cached entries (`stats`, `recommendations`) read the
    primary: their values outlive the request (db/routing.py says why).
    """

    def __init__(self, db: Reader) -> None:
        self._db = db

    @property
    def db(self) -> Reader:
        """The reader these loaders read through."""
        return self._db

    # -- lookups by key: `select ... where key = any(:ids)`, rows mapped back in key order

    def _by_key(
        self, statement: Executable, param: str, key_of: Callable[[Row], Any]
    ) -> DataLoader[Any, Row | None]:
        fetch = self._db.fetch  # not self: a closure over self would make a cycle

        async def batch(keys: list[Any]) -> list[Row | None]:
            rows = await fetch(statement, {param: keys})
            found = {key_of(row): row for row in rows}
            return [found.get(key) for key in keys]

        return _loader(batch, self._db, statement)

    def _counts(self, statement: Executable) -> DataLoader[int, int]:
        fetch = self._db.fetch  # not self: a closure over self would make a cycle

        async def batch(keys: list[int]) -> list[int]:
            rows = await fetch(statement, {"ids": keys})
            found: dict[int, int] = {row["key"]: row["n"] for row in rows}
            return [found.get(key, 0) for key in keys]

        return _loader(batch, self._db, statement)

    def _pages(self, listing: queries.Listing) -> DataLoader[PageKey, Page]:
        return self._pages_by(listing.per_parent)

    def _pages_by(self, statement: Executable) -> DataLoader[PageKey, Page]:
        return _loader(_pages_batch(self._db, statement), self._db, statement)

    def rendered_pages(
        self, listing: queries.Listing, columns: str, *, counted: bool = False
    ) -> BatchFn:
        """The batch function of a listing's pages read with other `columns` (rows that
        carry their objects rendered as JSON, db/rendered.py), `counted` or not (see
        Listing.per_parent_selecting): for a level form, which needs no loader."""
        statement = listing.per_parent_selecting(columns, counted=counted)
        batch = (
            _counted_pages_batch(self._db, statement)
            if counted
            else _pages_batch(self._db, statement)
        )
        if self._db.telemetry is not None:
            batch = self._db.telemetry.batch(_NAMES.get(listing.per_parent, "other"), batch)
        return batch

    @cached_property
    def user(self) -> DataLoader[int, Row | None]:
        """User row by id."""
        return self._by_key(queries.USERS_BY_ID, "ids", lambda row: row["id"])

    @cached_property
    def user_by_handle(self) -> DataLoader[str, Row | None]:
        """User row by lower-cased handle."""
        return self._by_key(queries.USERS_BY_HANDLE, "handles", lambda row: row["handle"].lower())

    def user_by_handle_rendered(self, json: str) -> DataLoader[str, Fragment | None]:
        """User by lower-cased handle, as the JSON object `json` writes of its row
        (queries.users_by_handle_rendering): one loader per rendered selection."""
        rendered: dict[str, DataLoader[str, Fragment | None]]
        rendered = self.__dict__.setdefault("_users_by_handle_rendered", {})
        loader = rendered.get(json)
        if loader is None:
            statement = queries.users_by_handle_rendering(json)
            fetch = self._db.fetch  # not self: a closure over self would make a cycle

            async def batch(keys: list[str]) -> list[Fragment | None]:
                rows = await fetch(statement, {"handles": keys})
                found = {row[0]: Fragment(row[1]) for row in rows}
                return [found.get(key) for key in keys]

            # Observed under USERS_BY_HANDLE's name: the same lookup, other columns.
            loader = rendered[json] = _loader(batch, self._db, queries.USERS_BY_HANDLE)
        return loader

    @cached_property
    def post(self) -> DataLoader[int, Row | None]:
        """Post row by id."""
        return self._by_key(queries.POSTS_BY_ID, "ids", lambda row: row["id"])

    @cached_property
    def comment(self) -> DataLoader[int, Row | None]:
        """Comment row by id."""
        return self._by_key(queries.COMMENTS_BY_ID, "ids", lambda row: row["id"])

    @cached_property
    def posts_by_author(self) -> DataLoader[PageKey, Page]:
        """A page of a user's posts, newest first."""
        return self._pages(queries.POSTS_BY_AUTHOR)

    @cached_property
    def comments_by_post(self) -> DataLoader[PageKey, Page]:
        """A page of a post's comments, oldest first."""
        return self._pages(queries.COMMENTS_BY_POST)

    @cached_property
    def followers(self) -> DataLoader[PageKey, Page]:
        """A page of a user's followers, newest follow first."""
        return self._pages(queries.FOLLOWERS)

    @cached_property
    def following(self) -> DataLoader[PageKey, Page]:
        """A page of the users a user follows, newest follow first."""
        return self._pages(queries.FOLLOWING)

    @cached_property
    def feed(self) -> DataLoader[PageKey, Page]:
        """A page of posts by the people a user follows, newest first."""
        return self._pages_by(queries.FEED_PAGES)

    @cached_property
    def feed_count(self) -> DataLoader[int, int]:
        """Number of posts in a user's feed."""
        return self._counts(queries.FEED_COUNT)

    @cached_property
    def post_count(self) -> DataLoader[int, int]:
        """Number of posts by user id."""
        return self._counts(queries.POST_COUNT_BY_AUTHOR)

    @cached_property
    def comment_count(self) -> DataLoader[int, int]:
        """Number of comments by post id."""
        return self._counts(queries.COMMENT_COUNT_BY_POST)

    @cached_property
    def like_count(self) -> DataLoader[int, int]:
        """Number of likes by post id."""
        return self._counts(queries.LIKE_COUNT_BY_POST)

    @cached_property
    def follower_count(self) -> DataLoader[int, int]:
        """Number of followers by user id."""
        return self._counts(queries.FOLLOWER_COUNT)

    @cached_property
    def following_count(self) -> DataLoader[int, int]:
        """Number of followees by user id."""
        return self._counts(queries.FOLLOWING_COUNT)

    @cached_property
    def liked(self) -> DataLoader[LikeKey, bool]:
        """Whether a user likes a post, by LikeKey."""

        fetch = self._db.fetch  # not self: a closure over self would make a cycle

        async def batch(keys: list[LikeKey]) -> list[bool]:
            params = {"users": [k.user for k in keys], "posts": [k.post for k in keys]}
            rows = await fetch(queries.LIKED, params)
            found = {LikeKey(row["user_id"], row["post_id"]) for row in rows}
            return [key in found for key in keys]

        return _loader(batch, self._db, queries.LIKED)

    @cached_property
    def stats(self) -> DataLoader[int, UserStatsRow]:
        """Activity aggregates (a UserStatsRow) by user id, computed on the primary."""

        fetch = self._db.fetch_primary  # not self: a closure over self would make a cycle

        async def batch(keys: list[int]) -> list[UserStatsRow]:
            rows = await fetch(queries.USER_STATS, {"ids": keys})
            found = {row["id"]: UserStatsRow.from_row(row) for row in rows}
            return [found[key] for key in keys]

        return _loader(batch, self._db, queries.USER_STATS)

    @cached_property
    def recommendations(self) -> DataLoader[int, Recommendations]:
        """A user's Recommendations (the top MAX_RECOMMENDED), by user id: the ranking in
        one statement, the rows of the first PROFILED of every list in a second one.

        (Joining the users into the ranking statement made it slower than both together:
        its ranking then sorted every candidate instead of keeping the top ones.)
        """

        fetch = self._db.fetch_primary  # not self: a closure over self would make a cycle

        async def batch(keys: list[int]) -> list[Recommendations]:
            params = {"ids": keys, "lim": MAX_RECOMMENDED}
            ranked: defaultdict[int, list[int]] = defaultdict(list)
            for row in await fetch(queries.RECOMMENDATIONS, params):
                ranked[row["user_id"]].append(row["id"])
            wanted = {pk for ids in ranked.values() for pk in ids[:PROFILED]}
            users = (
                {row["id"]: row for row in await fetch(queries.USERS_BY_ID, {"ids": list(wanted)})}
                if wanted
                else {}
            )
            out = []
            for key in keys:
                # A user deleted between the two statements leaves the list.
                ids = [pk for pk in ranked[key] if pk in users or pk not in wanted]
                rows = []
                for pk in ids[:PROFILED]:
                    if pk not in users:  # read by the second statement for no list: stop
                        break
                    rows.append(users[pk])
                out.append(Recommendations(ids, rows))
            return out

        return _loader(batch, self._db, queries.RECOMMENDATIONS)

    async def top_level_page(
        self,
        listing: queries.Listing,
        first: int,
        after: Keyset | None,
        columns: str | None = None,
    ) -> Page:
        """A page of a list without a parent (all users, all posts), read with other
        `columns` when given (rows that carry their objects rendered, db/rendered.py):
        `first` is checked (validation.page_size) before it is written into a statement."""
        params: dict[str, Any] = {
            "at": after.at if after else None,
            "pk": after.id if after else None,
        }
        if columns is None:
            statement = listing.top_level
            params["lim"] = first + 1
        else:  # the limit written in (Listing.top_level_selecting says why)
            statement = listing.top_level_selecting(columns, first + 1)
        return _page(await self._db.fetch(statement, params), first)

    async def total(self, statement: Executable) -> int:
        """A single count (all users, all posts)."""
        rows = await self._db.fetch(statement)
        return int(rows[0][0])
