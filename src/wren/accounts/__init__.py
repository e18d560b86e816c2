"""Accounts: who is asking, and the sessions, keys and limits that make it trustworthy.

    keys.py       the signing keys (WREN_JWT_KEYS, WREN_JWT_KEYS_DIR or WREN_JWT_SECRET), JWKS
    tokens.py     access tokens (JWTs with `kid`, `sub`, `sid`) and opaque refresh tokens
    sessions.py   whether a token's session is still open, cached briefly per process
    passwords.py  argon2id on a bounded pool of its own (WREN_HASH_CONCURRENCY)
    throttle.py   failed log-ins per handle and client in Redis, per process without it
    audit.py      one log line per account event
    flows.py      signing up, logging in, refreshing, logging out, changing the password

`Accounts` holds them for one process: the lifespan builds it, every request reaches it
through its Context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wren.accounts import tokens
from wren.accounts.keys import Keyring
from wren.accounts.passwords import Passwords
from wren.accounts.sessions import SessionCheck
from wren.accounts.throttle import LoginThrottle, Policy
from wren.errors import Unauthenticated

if TYPE_CHECKING:
    from wren.cache.client import RedisClient
    from wren.db.engine import Database
    from wren.settings import Settings

_SCHEME = "bearer"
SESSION_ENDED = "The session has ended: log in again."


@dataclass(frozen=True, slots=True)
class Authentication:
    """What a request's credentials say: a viewer and session, nobody, or an error."""

    viewer_id: int | None = None
    claims: tokens.Claims | None = None
    error: Unauthenticated | None = None


# A request without credentials (shared: Authentication is immutable).
ANONYMOUS = Authentication()


class Accounts:
    """The keys, sessions, password hashing and log-in throttle of one process."""

    def __init__(
        self, settings: Settings, db: Database, redis: RedisClient, keyring: Keyring | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        self.keyring = keyring or Keyring.from_settings(settings)
        self.passwords = Passwords(settings.hash_concurrency)
        self.sessions = SessionCheck(db, settings.session_check_ttl)
        self.throttle = LoginThrottle(
            redis,
            namespace=settings.cache_namespace,
            policy=Policy(
                per_handle=settings.login_max_failures,
                per_client=settings.login_max_failures_per_client,
                backoff=settings.login_backoff,
                backoff_max=settings.login_backoff_max,
                window=settings.login_failure_window,
            ),
            timeout=settings.redis_timeout,
            cooldown=settings.cache_breaker_cooldown,
        )

    def access_token(self, user_id: int, session_id: uuid.UUID) -> str:
        """A new access token for the session."""
        return tokens.issue(self.keyring, user_id, session_id, self.settings.jwt_ttl)

    async def authenticate(self, authorization: str | None) -> Authentication:
        """Read an `Authorization: Bearer <token>` header; no header is an anonymous request."""
        if authorization is None or not authorization.strip():
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != _SCHEME or not token.strip():
            return Authentication(
                error=Unauthenticated("Send the token as `Authorization: Bearer <token>`.")
            )
        try:
            claims = tokens.claims_of(self.keyring, token.strip())
        except Unauthenticated as error:
            return Authentication(error=error)
        if not await self.sessions.is_open(claims.session_id, claims.user_id):
            return Authentication(error=Unauthenticated(SESSION_ENDED))
        return Authentication(viewer_id=claims.user_id, claims=claims)

    def close(self) -> None:
        """Stop the hashing pool."""
        self.passwords.close()
