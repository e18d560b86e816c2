"""What the rest of Wren calls: publish after a commit, listen from a subscription."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from wren.cache.keys import Channels
from wren.errors import ServiceUnavailable, WrenError
from wren.events.hub import FAILURES, LAGGING
from wren.events.messages import Event

if TYPE_CHECKING:
    from wren.cache.store import CacheStore
    from wren.events.hub import EventHub

log = logging.getLogger(__name__)


class SubscriptionLagging(WrenError):
    """A subscriber fell too far behind its events; it may subscribe again."""

    code = "SUBSCRIPTION_LAGGING"


class Events:
    """Publishing (through the cache's breaker and timeout) and listening, under one prefix."""

    def __init__(self, *, prefix: str, store: CacheStore, hub: EventHub) -> None:
        self.channels = Channels(prefix)
        self._store = store
        self._hub = hub

    async def post_created(self, *, post_id: int, author_id: int, position: int = 0) -> None:
        """Announce a committed post (at WAL `position`); never fails (a warning when Redis
        did not take it)."""
        await self._publish(self.channels.post_created, Event(post_id, author_id, position))

    async def comment_added(
        self, *, comment_id: int, post_id: int, author_id: int, position: int = 0
    ) -> None:
        """Announce a committed comment (at WAL `position`); never fails (a warning when
        Redis did not take it)."""
        event = Event(comment_id, author_id, position)
        await self._publish(self.channels.comment_added(post_id), event)

    async def _publish(self, channel: str, event: Event) -> None:
        if not await self._store.publish(channel, event.encode()):
            log.warning("event %s %d not published: Redis did not answer", channel, event.id)

    def listening(self, channel: str) -> int:
        """Subscribers of a channel in this process."""
        return self._hub.subscribed(channel)

    async def listen(self, channel: str) -> AsyncIterator[Event]:
        """The channel's events from now on, until the caller stops iterating."""
        try:
            async with self._hub.listen(channel) as queue:
                while True:
                    item = await queue.get()
                    if item is LAGGING:
                        raise SubscriptionLagging("Too many events were not read in time.")
                    assert isinstance(item, Event)
                    yield item
        except FAILURES as error:
            # Only subscribing talks to Redis here: the reader survives outages by itself.
            log.warning("could not subscribe to %s: %s", channel, error)
            raise ServiceUnavailable("Events are unavailable right now; retry shortly.") from None
