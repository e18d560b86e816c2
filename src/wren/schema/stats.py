"""The UserStats type: aggregates over a user's activity."""

from __future__ import annotations

import strawberry

from wren.db.loaders import UserStatsRow
from wren.schema.objects import construct


@strawberry.type(description="Aggregates over a user's activity.")
class UserStats:
    post_count: int = strawberry.field(description="Posts written.")
    comment_count: int = strawberry.field(description="Comments written.")
    follower_count: int = strawberry.field(description="People following the user.")
    following_count: int = strawberry.field(description="People the user follows.")
    likes_received: int = strawberry.field(description="Likes on all of the user's posts.")
    engagement_score: float = strawberry.field(
        description="(likesReceived + 2 * comments received on the user's posts)"
        " / max(postCount, 1)"
    )

    @classmethod
    def from_row(cls, row: UserStatsRow) -> UserStats:
        """From computed (or cached) aggregates."""
        return construct(
            cls,
            {
                "post_count": row.post_count,
                "comment_count": row.comment_count,
                "follower_count": row.follower_count,
                "following_count": row.following_count,
                "likes_received": row.likes_received,
                "engagement_score": row.engagement_score,
            },
        )
