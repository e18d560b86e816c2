"""The AuthPayload type: what signing up, logging in or refreshing returns."""

from __future__ import annotations

import strawberry

from wren.schema.user import User


@strawberry.type(description="A session's tokens.")
class AuthPayload:
    token: str = strawberry.field(
        description="The access token: send as `Authorization: Bearer <token>`. Expires after"
        " `expiresIn` seconds; get a new one with refreshToken."
    )
    refresh_token: str = strawberry.field(
        description="Send once to refreshToken for new tokens (WREN_REFRESH_TTL). Sending it a"
        " second time ends the session. Keep it secret, never in a URL."
    )
    expires_in: int = strawberry.field(description="Seconds the access token stays valid.")
    user: User = strawberry.field(description="The account the tokens are for.")
