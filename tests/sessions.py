"""Access tokens for tests: a session opened in the database directly, and its token."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import asyncpg

from wren.accounts import Accounts, tokens
from wren.accounts.keys import Keyring
from wren.settings import Settings


async def open_session(database_url: str, user_id: int) -> uuid.UUID:
    """A new open session of the user (no refresh token), straight in the table."""
    conn = await asyncpg.connect(database_url.replace("+asyncpg", ""))
    try:
        session_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO sessions (user_id) VALUES ($1) RETURNING id", user_id
        )
    finally:
        await conn.close()
    return session_id


def session_token(
    settings: Settings,
    user_id: int,
    *,
    accounts: Accounts | None = None,
    now: datetime | None = None,
) -> str:
    """An access token for a new session of the user; callable from sync and async code.

    With the app's `accounts`, the app is told the session is open, as when it opens one
    itself (a log-in), so the first request spends no statement checking it.
    """
    assert settings.database_url is not None
    with ThreadPoolExecutor(1) as thread:
        session_id = thread.submit(asyncio.run, open_session(settings.database_url, user_id))
        sid = session_id.result()
    if accounts is not None:
        accounts.sessions.opened(sid, user_id)
    keyring = accounts.keyring if accounts is not None else Keyring.from_settings(settings)
    return tokens.issue(keyring, user_id, sid, settings.jwt_ttl, now=now)
