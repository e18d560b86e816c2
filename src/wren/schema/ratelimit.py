"""The viewer's rate limit, as GitHub's `rateLimit` reports it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import strawberry

if TYPE_CHECKING:
    from wren.pipeline.ratelimit import Throttle


@strawberry.type(
    description="The budget of cost points this request was taken from: the viewer's, or "
    "the client address's when nobody is logged in."
)
class RateLimit:
    limit: int = strawberry.field(description="Points the budget holds when full.")
    cost: int = strawberry.field(description="Points this operation took (its estimated cost).")
    remaining: int = strawberry.field(description="Points left after this operation.")
    used: int = strawberry.field(description="Points spent and not yet restored.")
    restore_rate: float = strawberry.field(description="Points restored per second.")
    reset_at: datetime = strawberry.field(description="When the budget is full again.")

    @classmethod
    def of(cls, throttle: Throttle) -> RateLimit:
        """The field's value from this request's take."""
        remaining = int(throttle.available)
        return cls(
            limit=throttle.capacity,
            cost=throttle.cost,
            remaining=remaining,
            used=throttle.capacity - remaining,
            restore_rate=throttle.restore_rate,
            reset_at=datetime.now(UTC) + timedelta(seconds=throttle.reset),
        )
