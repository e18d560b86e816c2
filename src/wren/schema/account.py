"""The AuthPayload type: what signing up or logging in returns."""

from __future__ import annotations

import strawberry

from wren.schema.user import User


@strawberry.type(description="A logged-in session.")
class AuthPayload:
    token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>`. Expires (see WREN_JWT_TTL)."
    )
    user: User = strawberry.field(description="The account the token is for.")
