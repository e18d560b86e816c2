"""Reads behind a transaction pooler: unnamed statements, described once per connection.

A transaction pooler lends a server connection for one transaction: a statement
prepared in one read is gone, or someone else's, in the next. With its statement cache
off (which WREN_DATABASE_POOLER=transaction sets), asyncpg keeps no named statement and
relies on no statement beyond one execution: it prepares an unnamed one to learn its
parameter and column types (Parse, Describe, Flush: a round trip), then sends Parse
again with Bind, Execute and Sync, which a pooler keeps on one server connection.

`Connection.fetch` does both for every read: two round trips. The types of a statement
do not change between executions, so here the described statement is kept per driver
connection and only its second half runs for the next reads: Parse, Bind, Execute, Sync,
one round trip as without a pooler (PostgreSQL parses and plans it each time, as it does
any unnamed statement). asyncpg parses an unnamed statement again with every execution
whenever its statement cache is off (`tests/integration/test_described.py` checks that
it still does); a named statement here means the cache is on, and is refused.
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement

# Distinct read statements are module-level constants, a few dozen.
_MAX_KEPT = 256


class DescribedStatements:
    """Per asyncpg connection, the unnamed statements described on it, by SQL text."""

    def __init__(self) -> None:
        # Weak: a connection closed by the pool takes its statements with it.
        self._kept: WeakKeyDictionary[asyncpg.Connection, dict[str, PreparedStatement]] = (
            WeakKeyDictionary()
        )

    async def fetch(self, driver: asyncpg.Connection, sql: str, args: list[Any]) -> list[Any]:
        """Run `sql` on `driver` in one round trip once described there."""
        kept = self._kept.get(driver)
        if kept is None:
            kept = self._kept[driver] = {}
        statement = kept.get(sql)
        if statement is None:
            statement = await driver.prepare(sql)
            if statement.get_name():
                raise RuntimeError(
                    "named prepared statements behind a transaction pooler: the engine must"
                    " be built with statement_cache_size=0 (create_engine does it)"
                )
            if len(kept) >= _MAX_KEPT:
                kept.clear()
            kept[sql] = statement
        try:
            rows: list[Any] = await statement.fetch(*args)
        except asyncpg.PostgresError:
            # Its tables may have changed (a migration): describe it again next time.
            kept.pop(sql, None)
            raise
        return rows
