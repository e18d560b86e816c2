"""The GraphQL schema: Strawberry types, one module per type family."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from wren.errors import should_mask
from wren.schema.comment import Comment
from wren.schema.mutation import Mutation
from wren.schema.post import Post
from wren.schema.query import Query
from wren.schema.scalars import DateTime
from wren.schema.subscription import Subscription
from wren.schema.user import User

if TYPE_CHECKING:
    from graphql import GraphQLError
    from strawberry.types import ExecutionContext

log = logging.getLogger("wren.schema")


class WrenSchema(strawberry.Schema):
    """Strawberry's schema, logging only what is unexpected (client mistakes are answers)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors with their traceback; domain and GraphQL errors go unlogged."""
        for error in errors:
            if should_mask(error):
                log.error("unexpected error: %s", error.message, exc_info=error.original_error)


def build_schema(
    extensions: Sequence[Callable[[], SchemaExtension]] = (),
) -> strawberry.Schema:
    """The served schema, with these extensions (Wren itself needs none).

    Credentials and the masking of unexpected errors are the pipeline's (wren.pipeline),
    for every transport; the schema's extensions are what runs around execution.
    """
    return WrenSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[User, Post, Comment],
        extensions=list(extensions),
        config=StrawberryConfig(auto_camel_case=True, scalar_map={datetime: DateTime}),
    )


def sdl(schema: strawberry.Schema) -> str:
    """The schema's SDL as committed in schema.graphql."""
    return schema.as_str() + "\n"
