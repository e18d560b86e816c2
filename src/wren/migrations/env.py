"""Alembic environment: runs migrations over the async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from wren.db.tables import metadata
from wren.db.url import STATEMENT_CACHES, engine_options
from wren.settings import Settings

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or Settings().database_url
    if not url:
        raise RuntimeError("set WREN_DATABASE_URL to the database to migrate")
    return url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    options = engine_options(_url(), transaction_pooler=False)
    # A migration runs each statement once: nothing to gain from keeping them prepared,
    # and without it migrations also run behind a transaction pooler.
    no_caches = dict.fromkeys(STATEMENT_CACHES, 0)
    engine = create_async_engine(
        options.url,
        poolclass=pool.NullPool,
        connect_args={
            **options.connect_args,
            **no_caches,
            "server_settings": options.server_settings,
        },
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
