"""Relay building blocks: the Node interface, PageInfo, generic connections, and the helpers
that keep per-item work small (objects built without dataclass checks, ids and cursors
computed only when a client selects them, resolvers that hand back loader futures)."""

from __future__ import annotations

import asyncio
from asyncio import isfuture
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Generic, TypeVar

import strawberry
from aiodataloader import DataLoader

from wren.db.loaders import Page, PageKey
from wren.ids import encode_cursor, to_global_id
from wren.resolvers.pagination import page_args

NodeT = TypeVar("NodeT")
T = TypeVar("T")
R = TypeVar("R")


def make(cls: type[T], **values: Any) -> T:
    """An instance of a Strawberry type from its attribute values, skipping __init__.

    Rows from our own queries already have the right types; the generated __init__ only
    adds a keyword-argument call per object, thousands of times per large page.
    """
    instance = object.__new__(cls)
    instance.__dict__.update(values)
    return instance


def then(source: Awaitable[T], transform: Callable[[T], R]) -> asyncio.Future[R]:
    """A future of `transform(result of source)`: a resolver can return it without a coroutine.

    `source` is a loader's future; chaining a callback costs far less than the coroutine
    and task an `async def` resolver needs per item.
    """
    future = source if isfuture(source) else asyncio.ensure_future(source)
    out: asyncio.Future[R] = future.get_loop().create_future()

    def done(finished: asyncio.Future[T]) -> None:
        if out.done():
            return
        if finished.cancelled():
            out.cancel()
            return
        error = finished.exception()
        if error is not None:
            out.set_exception(error)
            return
        try:
            out.set_result(transform(finished.result()))
        except Exception as failure:  # delivered to whoever awaits `out`
            out.set_exception(failure)

    future.add_done_callback(done)
    return out


@strawberry.interface(
    description="Relay global object identification: every ID is opaque and resolvable "
    "through Query.node."
)
class Node:
    pk: strawberry.Private[int]

    @strawberry.field(description="The opaque global id.")
    def id(self) -> strawberry.ID:
        # The concrete class names the GraphQL type (User, Post, Comment).
        return strawberry.ID(to_global_id(type(self).__name__, self.pk))


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    has_previous_page: bool = strawberry.field(
        description="Items precede this page (true when the page starts after a cursor)."
    )
    start_cursor: str | None = strawberry.field(description="Cursor of the first item.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item: pass it as `after` for the next page."
    )


@strawberry.type(description="An item of a list with its cursor.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(description="Pass as `after` to continue after this item.")
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(description="A page of a list, keyset-paginated with `first` and `after`.")
class Connection(Generic[NodeT]):
    page: strawberry.Private[Page]
    node: strawberry.Private[Callable[[Any], NodeT]]
    count: strawberry.Private[Callable[[], Awaitable[int]]]
    paged: strawberry.Private[bool]
    at: strawberry.Private[str]

    def _cursor(self, row: Any) -> str:
        return encode_cursor(row[self.at], row["id"])

    @strawberry.field(description="The items with their cursors.")
    def edges(self) -> list[Edge[NodeT]]:
        node, cursor = self.node, self._cursor
        return [make(Edge, cursor=cursor(row), node=node(row)) for row in self.page.rows]

    @strawberry.field(description="The items.")
    def nodes(self) -> list[NodeT]:
        node = self.node
        return [node(row) for row in self.page.rows]

    @strawberry.field(description="Where this page sits.")
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return make(
            PageInfo,
            has_next_page=self.page.has_next,
            has_previous_page=self.paged,
            start_cursor=self._cursor(rows[0]) if rows else None,
            end_cursor=self._cursor(rows[-1]) if rows else None,
        )

    @strawberry.field(
        description="Number of items in the whole list (costs a count).", graphql_type=int
    )
    def total_count(self) -> Awaitable[int]:
        return self.count()

    @classmethod
    def of_parent(
        cls,
        pages: DataLoader[PageKey, Page],
        counts: DataLoader[int, int],
        parent: int,
        first: int,
        after: str | None,
        node: Callable[[Any], NodeT],
        at: str = "created_at",
    ) -> Awaitable[Connection[NodeT]]:
        """A page of `parent`'s list as a future: arguments checked, then one batched load."""
        limit, cursor = page_args(first, after)
        return then(
            pages.load(PageKey(parent, limit, cursor)),
            lambda page: cls.build(
                page, node, lambda: counts.load(parent), paged=cursor is not None, at=at
            ),
        )

    @classmethod
    def of_parents(
        cls,
        pages: DataLoader[PageKey, Page],
        counts: DataLoader[int, int],
        parents: Sequence[Node],
        first: int,
        after: str | None,
        node: Callable[[Any], NodeT],
        at: str = "created_at",
    ) -> Awaitable[list[Connection[NodeT]]]:
        """of_parent for many parents at once (a level form): one batch, one future."""
        limit, cursor = page_args(first, after)
        paged = cursor is not None
        pks = [parent.pk for parent in parents]
        batch = pages.batch_load_fn([PageKey(pk, limit, cursor) for pk in pks])

        def build(found: list[Page]) -> list[Connection[NodeT]]:
            return [
                cls.build(page, node, partial(counts.load, pk), paged=paged, at=at)
                for page, pk in zip(found, pks, strict=True)
            ]

        return then(batch, build)

    @classmethod
    def build(
        cls,
        page: Page,
        node: Callable[[Any], NodeT],
        count: Callable[[], Awaitable[int]],
        *,
        paged: bool,
        at: str = "created_at",
    ) -> Connection[NodeT]:
        """A connection over a page of rows; `at` names the row's sort timestamp."""
        return make(cls, page=page, node=node, count=count, paged=paged, at=at)
