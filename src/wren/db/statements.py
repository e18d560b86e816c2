"""Statements kept per asyncpg connection, by SQL text: what prepared.py and described.py share.

Both keep, for each driver connection, the statement each read's SQL text became there,
so that the next read of that text on that connection skips a step (prepared.py: asyncpg's
statement cache and its layers; described.py: the Describe round trip behind a transaction
pooler). The keeping is the same, and is here: weak by connection (a connection closed by
the pool takes its statements with it), bounded (read statements are module-level
constants, a few dozen: past the bound everything kept on that connection is dropped), and
a statement dropped when a read fails with it. What differs is how a kept statement runs
and which failures drop it or prepare it again; that stays in each module.

A read looks its statement up in `_kept` itself, not through a method: the lookup is on
every read's path, and a call would add to each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.prepared_stmt import PreparedStatement

# Distinct read statements are module-level constants, a few dozen.
_MAX_KEPT = 256


class KeptStatements:
    """Per asyncpg connection, a bounded set of its statements, by SQL text."""

    def __init__(self) -> None:
        # Weak: a connection closed by the pool takes its statements with it.
        self._kept: WeakKeyDictionary[asyncpg.Connection, dict[str, PreparedStatement]] = (
            WeakKeyDictionary()
        )

    def _keep(self, driver: asyncpg.Connection, sql: str, statement: PreparedStatement) -> None:
        """Keep `statement` as `sql`'s on `driver` (all of that connection's dropped first
        when it holds the bound)."""
        kept = self._kept.get(driver)
        if kept is None:
            kept = self._kept[driver] = {}
        elif len(kept) >= _MAX_KEPT:
            kept.clear()
        kept[sql] = statement

    def _drop(self, driver: asyncpg.Connection, sql: str) -> None:
        """Forget `sql`'s statement on `driver`, if one is kept."""
        kept = self._kept.get(driver)
        if kept is not None:
            kept.pop(sql, None)
