"""What the account mutations do: sign up, log in, refresh, log out, change the password.

Every flow that starts a session opens it in PostgreSQL with its first refresh token and
answers with an access token for it. A refresh token is used once: its use stores its
successor; using it again ends its session (the whole family: whoever holds the
successor is logged out too), because only a stolen copy explains a second use. The
process that ends a session refuses it at once; other processes within
WREN_SESSION_CHECK_TTL seconds (sessions.py).
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wren import validation
from wren.accounts import audit, tokens
from wren.accounts.passwords import needs_rehash
from wren.db import accounts as account_rows
from wren.db import sessions
from wren.errors import RateLimited, Unauthenticated

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from wren.accounts import Accounts
    from wren.context import Context

WRONG_CREDENTIALS = "Wrong handle or password."
_REFRESH_REFUSED = "The refresh token is invalid or expired: log in again."


@dataclass(frozen=True, slots=True)
class Issued:
    """The tokens of a session just opened or refreshed."""

    user_id: int
    session_id: uuid.UUID
    access_token: str
    refresh_token: str
    expires_in: int


def _client(context: Context) -> str | None:
    """The client's address (uvicorn's, after trusted proxy headers), if known."""
    request = getattr(context, "request", None)
    client = getattr(request, "client", None)
    host = getattr(client, "host", None)
    return host if isinstance(host, str) else None


def _accounts(context: Context) -> Accounts:
    return context.accounts


async def _open(context: Context, conn: AsyncConnection, user_id: int) -> Issued:
    """Open a session for the user within the caller's transaction."""
    accounts = _accounts(context)
    refresh = tokens.new_refresh_token()
    session_id = await sessions.open_session(
        conn=conn,
        user_id=user_id,
        digest=tokens.refresh_digest(refresh),
        ttl=context.settings.refresh_ttl,
    )
    return Issued(
        user_id,
        session_id,
        accounts.access_token(user_id, session_id),
        refresh,
        context.settings.jwt_ttl,
    )


async def sign_up(
    context: Context, *, handle: str, display_name: str, password: str, bio: str | None
) -> tuple[Any, Issued]:
    """Create the account and its first session."""
    password_hash = await _accounts(context).passwords.hash(password)
    async with context.db.transaction() as conn:
        row = await account_rows.create_user(
            conn=conn, handle=handle, display_name=display_name, bio=bio,
            password_hash=password_hash,
        )  # fmt: skip
        issued = await _open(context, conn, row["id"])
    # The new user's next reads, wherever they land, see the account.
    await context.db.written_by(row["id"])
    _accounts(context).sessions.opened(issued.session_id, issued.user_id)
    audit.event(
        "signup", request_id=context.request_id, user_id=row["id"], handle=row["handle"],
        client=_client(context),
    )  # fmt: skip
    return row, issued


async def _throttled(context: Context, handle: str, client: str | None, event: str) -> None:
    """Refuse the try (429) while the handle or the client is locked out."""
    wait = await _accounts(context).throttle.retry_after(handle, client)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        audit.event(
            event, request_id=context.request_id, level=logging.WARNING, handle=handle,
            client=client, retry_after=seconds,
        )  # fmt: skip
        raise RateLimited(
            f"Too many failed log-ins: try again in {seconds} s.", retry_after=seconds
        )


async def _failed(context: Context, handle: str, client: str | None, event: str) -> None:
    lock = await _accounts(context).throttle.failed(handle, client)
    audit.event(
        event, request_id=context.request_id, level=logging.WARNING, handle=handle,
        client=client, locked_for=math.ceil(lock) if lock else None,
    )  # fmt: skip


async def log_in(context: Context, handle: str, password: str) -> tuple[Any, Issued]:
    """Check the credentials (throttled before any hash), then open a session."""
    accounts = _accounts(context)
    client = _client(context)
    typed = handle.strip()
    await _throttled(context, typed, client, "login_throttled")
    # The same answer, after the same work, whether the handle exists or not.
    row = None
    if len(password) <= 200 and validation.HANDLE.fullmatch(typed.lower()):
        row = await account_rows.credentials(db=context.db, handle=typed)
    if row is None:
        await accounts.passwords.verify_nothing(password[:200])
        await _failed(context, typed, client, "login_failed")
        raise Unauthenticated(WRONG_CREDENTIALS)
    if not await accounts.passwords.verify(row["password_hash"], password):
        await _failed(context, typed, client, "login_failed")
        raise Unauthenticated(WRONG_CREDENTIALS)
    await accounts.throttle.succeeded(typed)
    new_hash = None
    if needs_rehash(row["password_hash"]):
        new_hash = await accounts.passwords.hash(password)
    async with context.db.transaction() as conn:
        if new_hash is not None:
            await account_rows.replace_password_hash(
                conn=conn, user_id=row["id"], password_hash=new_hash
            )
        issued = await _open(context, conn, row["id"])
    accounts.sessions.opened(issued.session_id, issued.user_id)
    audit.event(
        "login_ok", request_id=context.request_id, user_id=row["id"], handle=row["handle"],
        client=client, session=str(issued.session_id),
    )  # fmt: skip
    return row, issued


async def refresh(context: Context, refresh_token: str) -> Issued:
    """Use a refresh token once: new access and refresh tokens for the same session."""
    accounts = _accounts(context)
    digest = tokens.refresh_digest(refresh_token)
    successor = tokens.new_refresh_token()
    async with context.db.transaction() as conn:
        rotated = await sessions.rotate(
            conn=conn,
            digest=digest,
            new_digest=tokens.refresh_digest(successor),
            ttl=context.settings.refresh_ttl,
        )
        reused = None
        if rotated is None:
            found = await sessions.presented(conn=conn, digest=digest)
            if found is not None and found.used and found.open:
                await sessions.end_session(
                    conn=conn, session_id=found.session_id, reason="refresh-reuse"
                )
                reused = found
    if reused is not None:
        accounts.sessions.ended(reused.session_id, reused.user_id)
        audit.event(
            "refresh_reuse", request_id=context.request_id, level=logging.WARNING,
            user_id=reused.user_id, session=str(reused.session_id), client=_client(context),
        )  # fmt: skip
    if rotated is None:
        raise Unauthenticated(_REFRESH_REFUSED)
    session_id, user_id = rotated
    accounts.sessions.opened(session_id, user_id)
    audit.event(
        "refresh", request_id=context.request_id, level=logging.DEBUG, user_id=user_id,
        session=str(session_id),
    )  # fmt: skip
    return Issued(
        user_id,
        session_id,
        accounts.access_token(user_id, session_id),
        successor,
        context.settings.jwt_ttl,
    )


def _session(context: Context) -> tokens.Claims:
    """The viewer's session; UNAUTHENTICATED without a token."""
    claims = getattr(context, "claims", None)
    if claims is None:
        raise Unauthenticated("Log in first, then send `Authorization: Bearer <token>`.")
    assert isinstance(claims, tokens.Claims)
    return claims


async def log_out(context: Context) -> bool:
    """End the viewer's current session; its tokens are refused from now on."""
    claims = _session(context)
    async with context.db.transaction() as conn:
        ended = await sessions.end_session(conn=conn, session_id=claims.session_id, reason="logout")
    _accounts(context).sessions.ended(claims.session_id, claims.user_id)
    audit.event(
        "logout", request_id=context.request_id, user_id=claims.user_id,
        session=str(claims.session_id),
    )  # fmt: skip
    return ended


async def log_out_everywhere(context: Context) -> int:
    """End every other session of the viewer; how many were open."""
    claims = _session(context)
    async with context.db.transaction() as conn:
        ended = await sessions.end_other_sessions(
            conn=conn, user_id=claims.user_id, keep=claims.session_id, reason="logout-everywhere"
        )
    for session_id in ended:
        _accounts(context).sessions.ended(session_id, claims.user_id)
    audit.event(
        "logout_everywhere", request_id=context.request_id, user_id=claims.user_id,
        session=str(claims.session_id), ended=len(ended),
    )  # fmt: skip
    return len(ended)


async def change_password(context: Context, current: str, new: str) -> int:
    """Replace the viewer's password (the current one checked, throttled like a log-in)
    and end every other session; how many were ended."""
    accounts = _accounts(context)
    claims = _session(context)
    new = validation.password(new, field="newPassword")
    row = await account_rows.by_id(db=context.db, user_id=claims.user_id)
    if row is None:
        raise Unauthenticated("This account no longer exists.")
    client = _client(context)
    await _throttled(context, row["handle"], client, "password_change_throttled")
    if len(current) > 200 or not await accounts.passwords.verify(row["password_hash"], current):
        await _failed(context, row["handle"], client, "password_change_failed")
        raise Unauthenticated("The current password is wrong.", field="currentPassword")
    await accounts.throttle.succeeded(row["handle"])
    new_hash = await accounts.passwords.hash(new)
    async with context.db.transaction() as conn:
        await account_rows.replace_password_hash(
            conn=conn, user_id=claims.user_id, password_hash=new_hash
        )
        ended = await sessions.end_other_sessions(
            conn=conn, user_id=claims.user_id, keep=claims.session_id, reason="password-changed"
        )
    for session_id in ended:
        accounts.sessions.ended(session_id, claims.user_id)
    audit.event(
        "password_changed", request_id=context.request_id, user_id=claims.user_id,
        session=str(claims.session_id), ended=len(ended),
    )  # fmt: skip
    return len(ended)
