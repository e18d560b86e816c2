"""Who is asking: argon2 password hashes, signed access tokens, and the Bearer header."""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from wren.errors import Unauthenticated
from wren.settings import Settings

# argon2id with argon2-cffi's defaults, RFC 9106's low-memory profile (t=3, 64 MiB, p=4):
# 0.3 s a hash on two shared cores, far too slow to guess passwords at scale. Hashes run
# in the default thread pool, which also caps how many 64 MiB hashes run at once.
_hasher = PasswordHasher()
_ALGORITHM = "HS256"
_ISSUER = "wren"
_SCHEME = "bearer"


async def hash_password(password: str) -> str:
    """The argon2id hash of a password (computed off the event loop)."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """Whether the password matches the hash (checked off the event loop)."""
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_nothing(password: str) -> None:
    """Spend the time a real verification takes, so unknown handles cannot be told apart."""
    await asyncio.to_thread(_verify_dummy, password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone")


def _verify_dummy(password: str) -> None:
    with suppress(VerificationError):
        _hasher.verify(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def issue_token(settings: Settings, user_id: int, *, now: datetime | None = None) -> str:
    """A signed access token naming the user, valid for settings.jwt_ttl seconds."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "iss": _ISSUER,
        "iat": issued,
        "exp": issued + timedelta(seconds=settings.jwt_ttl),
    }
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=_ALGORITHM)


def user_id_of(settings: Settings, token: str) -> int:
    """The user a token names; UNAUTHENTICATED when it is forged, malformed or expired."""
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret.get_secret_value(),
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["sub", "iss", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired: log in again.") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated("The token is invalid: log in again.") from None
    subject = claims["sub"]
    if not (isinstance(subject, str) and subject.isdigit() and 0 < int(subject) < 2**63):
        raise Unauthenticated("The token is invalid: log in again.")
    return int(subject)


@dataclass(frozen=True, slots=True)
class Authentication:
    """What a request's credentials say: a viewer, nobody, or an error to report."""

    viewer_id: int | None = None
    error: Unauthenticated | None = None


def authenticate(settings: Settings, authorization: str | None) -> Authentication:
    """Read an `Authorization: Bearer <token>` header; no header is an anonymous request."""
    if authorization is None or not authorization.strip():
        return Authentication()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != _SCHEME or not token.strip():
        return Authentication(
            error=Unauthenticated("Send the token as `Authorization: Bearer <token>`.")
        )
    try:
        return Authentication(viewer_id=user_id_of(settings, token.strip()))
    except Unauthenticated as error:
        return Authentication(error=error)
