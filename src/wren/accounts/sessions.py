"""Whether an access token's session is still open, checked per request, cached briefly.

Ending a session (logOut, logOutEverywhere, changePassword, a reused refresh token) is a
write to PostgreSQL, which every instance reads: a process remembers that a session is
open for at most WREN_SESSION_CHECK_TTL seconds before it asks again, so a session ended
anywhere is refused everywhere within that time (at once in the process that ended it).
An ended session is remembered as ended: sessions never reopen. A logged-in client that
keeps sending requests costs one primary-key lookup per TTL per process.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from wren.db import sessions
from wren.db.engine import Database

# Sessions remembered per process; the least recently checked are forgotten first.
_KEPT = 100_000


class SessionCheck:
    """Open or ended, per session id, from PostgreSQL with a short per-process memory."""

    def __init__(
        self, db: Database, ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.ttl = ttl
        self._clock = clock
        # session -> (user, open, checked at)
        self._known: OrderedDict[uuid.UUID, tuple[int, bool, float]] = OrderedDict()

    def _remember(self, session_id: uuid.UUID, user_id: int, is_open: bool) -> None:
        self._known[session_id] = (user_id, is_open, self._clock())
        self._known.move_to_end(session_id)
        while len(self._known) > _KEPT:
            self._known.popitem(last=False)

    def opened(self, session_id: uuid.UUID, user_id: int) -> None:
        """This process just opened (or refreshed) the session."""
        self._remember(session_id, user_id, True)

    def ended(self, session_id: uuid.UUID, user_id: int) -> None:
        """This process just ended the session."""
        self._remember(session_id, user_id, False)

    async def is_open(self, session_id: uuid.UUID, user_id: int) -> bool:
        """Whether the session exists, belongs to the user and has not ended."""
        known = self._known.get(session_id)
        if known is not None:
            owner, is_open, checked = known
            if not is_open or self._clock() - checked < self.ttl:
                return is_open and owner == user_id
        state = await sessions.session_state(db=self.db, session_id=session_id)
        if state is None:
            return False
        owner, is_open = state
        self._remember(session_id, owner, is_open)
        return is_open and owner == user_id
