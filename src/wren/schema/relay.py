"""Relay building blocks: the Node interface, PageInfo, and generic connections."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from wren.db.loaders import Page
from wren.ids import encode_cursor

NodeT = TypeVar("NodeT")


@strawberry.interface(
    description="Relay global object identification: every ID is opaque and resolvable "
    "through Query.node."
)
class Node:
    id: strawberry.ID = strawberry.field(description="The opaque global id.")


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
    edges: list[Edge[NodeT]] = strawberry.field(description="The items with their cursors.")
    nodes: list[NodeT] = strawberry.field(description="The items.")
    page_info: PageInfo = strawberry.field(description="Where this page sits.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list (costs a count).")
    async def total_count(self) -> int:
        return await self.count()

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
        edges = [Edge(cursor=encode_cursor(getattr(r, at), r.id), node=node(r)) for r in page.rows]
        return cls(
            edges=edges,
            nodes=[e.node for e in edges],
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=paged,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            count=count,
        )
