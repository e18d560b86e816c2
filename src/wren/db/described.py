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

How statements are kept per connection (weakly, bounded) is db/statements.py's, shared
with db/prepared.py; what differs is this module's: an unnamed statement run through
`PreparedStatement.fetch` (which sends its Parse again), dropped after a PostgreSQL error
and described again by the next read, not within this one.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from wren.db.statements import KeptStatements


class DescribedStatements(KeptStatements):
    """Per asyncpg connection, the unnamed statements described on it, by SQL text."""

    async def fetch(self, driver: asyncpg.Connection, sql: str, args: list[Any]) -> list[Any]:
        """Run `sql` on `driver` in one round trip once described there."""
        kept = self._kept.get(driver)
        statement = None if kept is None else kept.get(sql)
        if statement is None:
            statement = await driver.prepare(sql)
            if statement.get_name():
                raise RuntimeError(
                    "named prepared statements behind a transaction pooler: the engine must"
                    " be built with statement_cache_size=0 (create_engine does it)"
                )
            self._keep(driver, sql, statement)
        try:
            rows: list[Any] = await statement.fetch(*args)
        except asyncpg.PostgresError:
            # Its tables may have changed (a migration): describe it again next time.
            self._drop(driver, sql)
            raise
        return rows
