"""Database outages in the log: one line when one starts, one when it ends.

Every request that meets an unavailable database is answered SERVICE_UNAVAILABLE; logging
each would bury the log (a 4 s outage under load is thousands of requests), logging none
leaves the operator blind. The first failure logs the start with its cause; the first
success after it logs the end with the outage's length and how many reads failed.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("wren.db")


class Outage:
    """Whether the database is failing now, as the process last saw it."""

    def __init__(self) -> None:
        self.active = False
        self.started = 0.0
        self.failures = 0

    def failed(self, cause: BaseException) -> None:
        """A statement could not run because the database is unavailable."""
        self.failures += 1
        if self.active:
            return
        self.active = True
        self.started = time.monotonic()
        self.failures = 1
        log.error("database unavailable, outage started: %s", _describe(cause))

    def succeeded(self) -> None:
        """A statement ran: if an outage was going on, it is over."""
        if not self.active:
            return
        self.active = False
        log.warning(
            "database available again after %.1f s (%d failed statements)",
            time.monotonic() - self.started,
            self.failures,
        )


def _describe(cause: BaseException) -> str:
    """The cause's type and message (no SQL, no parameters: drivers put neither here)."""
    inner = cause.__cause__ or cause
    return f"{type(inner).__name__}: {inner}".strip()
