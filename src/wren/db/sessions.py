"""Writes and reads of sessions: opening one, rotating its refresh token, ending them.

A refresh is one statement: the presented token is marked used only if it is unused,
unexpired and its session still open, and its successor is inserted in the same
statement. Whatever that statement did not take is then looked at once more to tell a
reused token (its session ends) from an unknown or expired one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from wren.db.engine import Database
from wren.db.tables import sessions

_OPEN = text(
    "WITH s AS (INSERT INTO sessions (user_id) VALUES (:user_id) RETURNING id)"
    " INSERT INTO refresh_tokens (digest, session_id, expires_at)"
    " SELECT :digest, s.id, now() + make_interval(secs => :ttl) FROM s"
    " RETURNING session_id"
)

_ROTATE = text(
    "WITH used AS ("
    "  UPDATE refresh_tokens t SET used_at = now() FROM sessions s"
    "   WHERE t.digest = :digest AND t.used_at IS NULL AND t.expires_at > now()"
    "     AND s.id = t.session_id AND s.ended_at IS NULL"
    "  RETURNING t.session_id, s.user_id"
    "), fresh AS ("
    "  INSERT INTO refresh_tokens (digest, session_id, expires_at)"
    "  SELECT :new_digest, session_id, now() + make_interval(secs => :ttl) FROM used"
    "), touched AS ("
    "  UPDATE sessions SET refreshed_at = now() WHERE id IN (SELECT session_id FROM used)"
    "), pruned AS ("
    # Used tokens are kept until they expire, to recognise their reuse; then they go.
    "  DELETE FROM refresh_tokens WHERE session_id IN (SELECT session_id FROM used)"
    "   AND expires_at <= now()"
    ") SELECT session_id, user_id FROM used"
)

_PRESENTED = text(
    "SELECT t.session_id, s.user_id, t.used_at IS NOT NULL AS used,"
    " s.ended_at IS NULL AS is_open FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
    " WHERE t.digest = :digest"
)

_END = text(
    "UPDATE sessions SET ended_at = now(), end_reason = :reason"
    " WHERE id = :session_id AND ended_at IS NULL RETURNING id"
)

_END_OTHERS = text(
    "UPDATE sessions SET ended_at = now(), end_reason = :reason"
    " WHERE user_id = :user_id AND id <> :keep AND ended_at IS NULL RETURNING id"
)

_STATE = select(sessions.c.user_id, sessions.c.ended_at).where(
    sessions.c.id == bindparam("session_id", type_=sessions.c.id.type)
)


@dataclass(frozen=True, slots=True)
class Presented:
    """A refresh token that the rotation did not take: whose it is and why not."""

    session_id: uuid.UUID
    user_id: int
    used: bool
    open: bool


async def open_session(
    *, conn: AsyncConnection, user_id: int, digest: bytes, ttl: int
) -> uuid.UUID:
    """A new session for the user, with its first refresh token (valid `ttl` seconds)."""
    params = {"user_id": user_id, "digest": digest, "ttl": ttl}
    session_id: uuid.UUID = (await conn.execute(_OPEN, params)).scalar_one()
    return session_id


async def rotate(
    *, conn: AsyncConnection, digest: bytes, new_digest: bytes, ttl: int
) -> tuple[uuid.UUID, int] | None:
    """Use a refresh token once and store its successor: (session, user), or None."""
    params = {"digest": digest, "new_digest": new_digest, "ttl": ttl}
    row = (await conn.execute(_ROTATE, params)).one_or_none()
    return None if row is None else (row.session_id, row.user_id)


async def presented(*, conn: AsyncConnection, digest: bytes) -> Presented | None:
    """What a refresh token the rotation refused belongs to, if it was ever issued."""
    row = (await conn.execute(_PRESENTED, {"digest": digest})).one_or_none()
    return None if row is None else Presented(row.session_id, row.user_id, row.used, row.is_open)


async def end_session(*, conn: AsyncConnection, session_id: uuid.UUID, reason: str) -> bool:
    """End one session; False when it had already ended."""
    params = {"session_id": session_id, "reason": reason}
    return (await conn.execute(_END, params)).one_or_none() is not None


async def end_other_sessions(
    *, conn: AsyncConnection, user_id: int, keep: uuid.UUID, reason: str
) -> list[uuid.UUID]:
    """End every open session of the user but `keep`; the ended ones."""
    params = {"user_id": user_id, "keep": keep, "reason": reason}
    return list((await conn.execute(_END_OTHERS, params)).scalars())


async def session_state(*, db: Database, session_id: uuid.UUID) -> tuple[int, bool] | None:
    """The session's user and whether it is still open, if it exists."""
    rows = await db.fetch(_STATE, {"session_id": session_id})
    if not rows:
        return None
    return rows[0]["user_id"], rows[0]["ended_at"] is None
