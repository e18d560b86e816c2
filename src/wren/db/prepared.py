"""Reads as executions of prepared statements kept per connection, by SQL text.

`Connection.fetch(sql, ...)` finds its prepared statement in asyncpg's statement cache on
every call (an LRU keyed by text, record class and codec flag, reached through four
coroutines and a context manager). A read statement is one of a few dozen module-level
constants, so its PreparedStatement is kept here for each connection and its Bind,
Execute and Sync are sent straight through the connection's protocol: the same messages
on the wire, the same records, the connection's command_timeout. Measured per
UserByHandle request (one read): 17,000 instructions less than `Connection.fetch`, of
which PreparedStatement.fetch's own layers would have kept 12,000
(bench/results/read-path.md).

A connection whose statement cache is off (statement_cache_size=0 in the URL: no named
statement wanted) or whose queries are logged (add_query_logger) reads through
`Connection.fetch` as before.

A kept statement fails like asyncpg's cached ones when a migration changes what it
reads: after InvalidCachedStatementError (the result type changed) it is prepared again
and run once more, as asyncpg does; after any other failure it is dropped, and the next
read prepares it again.

How statements are kept per connection (weakly, bounded) is db/statements.py's, shared
with db/described.py; what is kept, how it runs and which failures drop it are this
module's: here a named statement run through the protocol, prepared again after
InvalidCachedStatementError, dropped after any other failure.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from asyncpg.prepared_stmt import PreparedStatement

from wren._compat import plain_connection, run_prepared
from wren.db.statements import KeptStatements


class PreparedStatements(KeptStatements):
    """Per asyncpg connection, its prepared read statements, by SQL text."""

    async def fetch(self, driver: asyncpg.Connection, sql: str, args: list[Any]) -> list[Any]:
        """The rows of `sql` run on `driver` as its kept prepared statement."""
        if not plain_connection(driver):
            return await driver.fetch(sql, *args)
        kept = self._kept.get(driver)
        statement = None if kept is None else kept.get(sql)
        if statement is None:
            statement = await self._prepare(driver, sql)
        try:
            rows: list[Any] = await run_prepared(driver, statement, args)
        except asyncpg.InvalidCachedStatementError:
            # The result type changed under it (a migration): prepared again, once.
            statement = await self._prepare(driver, sql)
            rows = await run_prepared(driver, statement, args)
        except BaseException:
            self._drop(driver, sql)  # whatever it was (a schema change, a cancellation)
            raise
        return rows

    async def _prepare(self, driver: asyncpg.Connection, sql: str) -> PreparedStatement:
        self._drop(driver, sql)
        statement = await driver.prepare(sql)
        self._keep(driver, sql, statement)
        return statement
