"""Access tokens (signed JWTs naming a user and a session) and refresh tokens (opaque).

An access token is short-lived (WREN_JWT_TTL, 15 minutes by default) and carries `sub`
(the user), `sid` (the session), `iss`, `iat` and `exp`, with the signing key's `kid` in
its header. It is refused as a whole when forged, malformed, expired, signed by a key
that is no longer listed, or when its session has ended (checked per request, see
sessions.py). A refresh token is 32 random bytes; only its SHA-256 is stored, and it can
be used once (refresh.py).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from wren.accounts.keys import Keyring
from wren.errors import Unauthenticated

ISSUER = "wren"
_INVALID = "The token is invalid: log in again."


@dataclass(frozen=True, slots=True)
class Claims:
    """Who an access token names: the user and the session it belongs to."""

    user_id: int
    session_id: uuid.UUID


def issue(
    keyring: Keyring,
    user_id: int,
    session_id: uuid.UUID,
    ttl: int,
    *,
    now: datetime | None = None,
) -> str:
    """A signed access token for the user's session, valid for `ttl` seconds."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iss": ISSUER,
        "iat": issued,
        "exp": issued + timedelta(seconds=ttl),
    }
    key = keyring.signer
    return jwt.encode(claims, key.signing, algorithm=key.algorithm, headers={"kid": key.kid})


def claims_of(keyring: Keyring, token: str) -> Claims:
    """The user and session a token names; UNAUTHENTICATED when it is not to be trusted."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise Unauthenticated(_INVALID) from None
    kid = header.get("kid")
    key = keyring.by_kid.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise Unauthenticated(_INVALID)
    try:
        # One algorithm per key: a token cannot choose how it is checked.
        claims = jwt.decode(
            token,
            key.verifying,
            algorithms=[key.algorithm],
            issuer=ISSUER,
            options={"require": ["sub", "sid", "iss", "iat", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired: refresh it, or log in again.") from None
    except jwt.InvalidTokenError:
        raise Unauthenticated(_INVALID) from None
    subject, session = claims["sub"], claims["sid"]
    if not (isinstance(subject, str) and subject.isdigit() and 0 < int(subject) < 2**63):
        raise Unauthenticated(_INVALID)
    try:
        session_id = uuid.UUID(session) if isinstance(session, str) else None
    except ValueError:
        session_id = None
    if session_id is None:
        raise Unauthenticated(_INVALID)
    return Claims(int(subject), session_id)


def new_refresh_token() -> str:
    """A fresh refresh token: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def refresh_digest(token: str) -> bytes:
    """What is stored of a refresh token (a fast hash suits 256 random bits)."""
    return hashlib.sha256(token.encode()).digest()
