"""The GraphQL schema: Strawberry types, one module per type family."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.extensions import MaskErrors
from strawberry.schema.config import StrawberryConfig

from wren.cache.extension import CacheCountersExtension
from wren.errors import should_mask
from wren.schema.comment import Comment
from wren.schema.credentials import RejectInvalidCredentials
from wren.schema.mutation import Mutation
from wren.schema.post import Post
from wren.schema.query import Query
from wren.schema.scalars import DateTime
from wren.schema.user import User


def build_schema() -> strawberry.Schema:
    """The served schema."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[User, Post, Comment],
        extensions=[
            RejectInvalidCredentials,
            lambda: MaskErrors(
                should_mask_error=should_mask, error_message="Internal server error."
            ),
            CacheCountersExtension,
        ],
        config=StrawberryConfig(auto_camel_case=True, scalar_map={datetime: DateTime}),
    )


def sdl(schema: strawberry.Schema) -> str:
    """The schema's SDL as committed in schema.graphql."""
    return schema.as_str() + "\n"
