"""Writes and reads of accounts: creating users and finding them to log in."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from wren.db.engine import Reader, Row
from wren.db.tables import users
from wren.errors import BadUserInput

_USER_FIELDS = (users.c.id, users.c.handle, users.c.display_name, users.c.bio, users.c.created_at)


async def create_user(
    *,
    conn: AsyncConnection,
    handle: str,
    display_name: str,
    bio: str | None,
    password_hash: str,
) -> RowMapping:
    """Insert a user; BAD_USER_INPUT when the handle is taken, whatever its case."""
    # No conflict target: either unique index on the handle (exact or lower-cased)
    # turns the insert into a no-op, even when two sign-ups race for one handle.
    statement = (
        insert(users)
        .values(handle=handle, display_name=display_name, bio=bio, password_hash=password_hash)
        .on_conflict_do_nothing()
        .returning(*_USER_FIELDS)
    )
    row = (await conn.execute(statement)).one_or_none()
    if row is None:
        raise BadUserInput(f"The handle {handle!r} is taken.", field="handle")
    return row._mapping


_CREDENTIALS = select(*_USER_FIELDS, users.c.password_hash).where(
    func.lower(users.c.handle) == bindparam("handle", type_=users.c.handle.type)
)


async def credentials(*, db: Reader, handle: str) -> Row | None:
    """The user with this handle (any case) and its password hash, if there is one (on the
    primary: an account signed up a moment ago logs in wherever the request lands)."""
    rows = await db.fetch_primary(_CREDENTIALS, {"handle": handle.lower()})
    return rows[0] if rows else None


async def replace_password_hash(*, conn: AsyncConnection, user_id: int, password_hash: str) -> None:
    """Store a hash made with today's parameters."""
    await conn.execute(
        update(users).where(users.c.id == user_id).values(password_hash=password_hash)
    )
