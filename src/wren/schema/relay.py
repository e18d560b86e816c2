"""Relay building blocks: the Node interface, PageInfo, generic connections and their
arguments. Per-item work stays small: objects built without their __init__ (objects.py),
ids and cursors computed only when a client selects them, connections of a level of
parents fetched in one batch (levels.py), and on the fast path their nodes or edges
written by PostgreSQL when only columns are selected of them (db/rendered.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, NamedTuple, TypeVar

import strawberry
from aiodataloader import DataLoader
from orjson import Fragment

from wren import validation
from wren.db import rendered
from wren.db.loaders import BatchFn, Page, PageKey
from wren.db.queries import Listing
from wren.ids import Keyset, decode_cursor, encode_cursor, to_global_id
from wren.level_form import Rendering, Selected, mark_level_form
from wren.schema.levels import Lookup, Renderer, through
from wren.schema.objects import construct

NodeT = TypeVar("NodeT")
F = TypeVar("F", bound=Callable[..., Any])


def page_args(first: int, after: str | None) -> tuple[int, Keyset | None]:
    """A connection's arguments, checked: (page size, position after which it starts)."""
    return validation.page_size(first), None if after is None else decode_cursor(after)


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
    count: strawberry.Private[Callable[[], Awaitable[int] | int]]
    paged: strawberry.Private[bool]
    at: strawberry.Private[str]
    # Rendered rows (see renders): each edge's JSON, instead of an Edge built per row.
    edge: strawberry.Private[Callable[[Any], Any] | None] = None

    def _cursor(self, row: Any) -> str:
        return encode_cursor(row[self.at], row["id"])

    @strawberry.field(description="The items with their cursors.")
    def edges(self) -> list[Edge[NodeT]]:
        if self.edge is not None:
            return list(map(self.edge, self.page.rows))
        node, cursor = self.node, self._cursor
        return [
            construct(Edge, {"cursor": cursor(row), "node": node(row)}) for row in self.page.rows
        ]

    @strawberry.field(description="The items.")
    def nodes(self) -> list[NodeT]:
        return list(map(self.node, self.page.rows))

    @strawberry.field(description="Where this page sits.")
    def page_info(self) -> PageInfo:
        rows = self.page.rows
        return construct(
            PageInfo,
            {
                "has_next_page": self.page.has_next,
                "has_previous_page": self.paged,
                "start_cursor": self._cursor(rows[0]) if rows else None,
                "end_cursor": self._cursor(rows[-1]) if rows else None,
            },
        )

    @strawberry.field(
        description="Number of items in the whole list (costs a count).", graphql_type=int
    )
    def total_count(self) -> Awaitable[int] | int:
        return self.count()

    @classmethod
    def lookup(
        cls,
        pages: DataLoader[PageKey, Page],
        counts: DataLoader[int, int],
        first: int,
        after: str | None,
        node: Callable[[Any], NodeT],
        at: str = "created_at",
        rendered_pages: Callable[..., BatchFn] | None = None,
    ) -> Lookup[Node, PageKey, Page, Connection[NodeT]]:
        """A page of each parent's list (a batched field): arguments checked once, each
        parent's page loaded by its id, its count loaded only when selected; with
        `rendered_pages`, the Lookup renders a spec of `renders`."""
        limit, cursor = page_args(first, after)
        paged = cursor is not None

        def build(key: PageKey, page: Page) -> Connection[NodeT]:
            return cls.build(page, node, partial(counts.load, key.parent), paged=paged, at=at)

        def key(parent: Node) -> PageKey:
            return PageKey(parent.pk, limit, cursor)

        lookup = through(pages, key, build)
        if rendered_pages is not None:
            batch_of = rendered_pages

            def render(spec: _Spec) -> Lookup[Node, PageKey, Page, Connection[NodeT]]:
                def build_rendered(key: PageKey, page: Page) -> Connection[NodeT]:
                    count = (
                        partial(_known, page.total)
                        if spec.counted
                        else partial(counts.load, key.parent)
                    )
                    return cls.from_rendered(page, spec, count, paged=paged)

                batch = batch_of(spec.listing, spec.columns, counted=spec.counted)
                return Lookup(key, pages.load, batch, build_rendered)

            lookup.render = render
        return lookup

    @staticmethod
    def renders(listing: Listing, node: rendered.Rendered) -> Renderer:
        """How a connection field over `listing` renders below it, on the fast path: its
        `nodes` and `edges` as JSON written by PostgreSQL (`node` says how), when each is
        selected once and only of columns, and its totalCount counted in the same
        statement; pageInfo as without."""
        edge = rendered.edge(node, listing.at, listing.pk)

        def renders(selection: tuple[Selected, ...]) -> tuple[frozenset[str], _Spec] | None:
            names = [selected.name for selected in selection]
            columns = [f"{listing.pk} AS id", f"{listing.at} AS at"]
            keys: set[str] = set()
            for selected in selection:
                if selected.name not in ("nodes", "edges"):
                    continue
                if names.count(selected.name) > 1 or selected.children is None:
                    return None
                json = (node if selected.name == "nodes" else edge).json(selected.children)
                if json is None:
                    return None
                columns.append(f"{json} AS {selected.name}")
                keys.add(selected.key)
            counted = "totalCount" in names
            if not keys and not counted:
                return None
            spec = _Spec(listing, ", ".join(columns), "edges" in names, counted)
            return frozenset(keys), spec

        return renders

    @classmethod
    def from_rendered(
        cls, page: Page, spec: _Spec, count: Callable[[], Awaitable[int] | int], *, paged: bool
    ) -> Connection[NodeT]:
        """A connection over a page of rows read with `spec.columns` (see renders)."""
        return construct(
            cls,
            {
                "page": page,
                "node": _fragment_of("nodes"),
                "count": count,
                "paged": paged,
                "at": "at",
                "edge": _fragment_of("edges") if spec.edges else None,
            },
        )

    @staticmethod
    def root(
        listing: Listing, node: rendered.Rendered, total: Callable[[Any], Awaitable[int]]
    ) -> Callable[[F], F]:
        """Mark a root field's resolver `(self, info, first, after)` that returns a
        Connection over `listing`: on the fast path, a level form of the root object
        (one) serves it, and renders below it as `renders` says (the whole tree below,
        with nested connections, in the page's one statement); `total(loaders)` counts
        the list when totalCount is selected."""
        renders = Connection.renders(listing, node)

        def mark(resolver: F) -> F:
            async def level(
                parents: list[Any], /, info: Any, first: int, after: str | None
            ) -> list[Any]:
                return [await resolver(None, info, first, after)]

            def rendering(selection: tuple[Selected, ...]) -> Rendering | None:
                found = renders(selection)
                if found is None or not found[0]:
                    return None
                keys, spec = found

                async def rendered_level(
                    parents: list[Any], /, info: Any, first: int, after: str | None
                ) -> list[Any]:
                    loaders = info.context.loaders
                    limit, cursor = page_args(first, after)
                    page = await loaders.top_level_page(listing, limit, cursor, spec.columns)
                    count = partial(total, loaders)
                    return [Connection.from_rendered(page, spec, count, paged=cursor is not None)]

                return Rendering(rendered_level, keys)

            mark_level_form(resolver, level, rendering)
            return resolver

        return mark

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
        return construct(
            cls, {"page": page, "node": node, "count": count, "paged": paged, "at": at}
        )


class _Spec(NamedTuple):
    """What a connection renders: its listing read with `columns`, edges or not, its
    list counted or not."""

    listing: Listing
    columns: str
    edges: bool
    counted: bool


def _known(total: int | None) -> int:
    """A total the page's statement counted."""
    assert total is not None
    return total


def _fragment_of(column: str) -> Callable[[Any], Any]:
    """A rendered row's JSON in `column`, as a value for the response."""
    return lambda row: Fragment(row[column])
