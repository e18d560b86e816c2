"""A circuit breaker: after repeated cache failures, stop calling Redis for a while."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed (calls go through) -> open (calls skipped) -> half-open (one probe) -> closed.

    `failures` consecutive failures open it for `cooldown` seconds; then exactly one call
    is let through as a probe: its success closes the breaker, its failure reopens it.
    """

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
        name: str = "cache",
        degraded: str = "serving from PostgreSQL",
        resumed: str = "caching resumes",
    ) -> None:
        # What the log lines say: who lost Redis, what happens meanwhile, what comes back.
        self.name = name
        self.degraded = degraded
        self.resumed = resumed
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._consecutive = 0
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        """True while calls are being skipped (a probe may still be allowed)."""
        return self._open_until is not None

    def allow(self) -> bool:
        """Whether a call may go to Redis now."""
        if self._open_until is None:
            return True
        if self._probing or self._clock() < self._open_until:
            return False
        self._probing = True
        return True

    def success(self) -> None:
        """A call went through."""
        if self._open_until is not None:
            log.info("%s: Redis answers again, %s", self.name, self.resumed)
        self._consecutive = 0
        self._open_until = None
        self._probing = False

    def failure(self, error: BaseException) -> None:
        """A call failed or timed out."""
        self._consecutive += 1
        probe_failed = self._probing
        self._probing = False
        if probe_failed or self._consecutive >= self.failures:
            if self._open_until is None:
                log.warning(
                    "%s: Redis unavailable (%s: %s); %s, next attempt in %.1f s",
                    self.name,
                    type(error).__name__,
                    error,
                    self.degraded,
                    self.cooldown,
                )
            self._open_until = self._clock() + self.cooldown
