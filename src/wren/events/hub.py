"""One Redis pub/sub connection per process, fanned out to the subscriptions it serves.

Each channel is subscribed in Redis once, however many local subscribers it has, and
unsubscribed when the last one leaves. When the connection drops, the reader logs a
warning, opens a new one through the listener (on a Redis Cluster: to a node that answers;
behind Sentinel: to the current master) and subscribes the channels again; events
published meanwhile are lost, as pub/sub never keeps them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from wren.cache.client import FAILURES
from wren.events.messages import Event

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

    from wren.cache.client import Listener

log = logging.getLogger(__name__)

__all__ = ["FAILURES", "LAGGING", "EventHub", "Lagging"]
# Events a subscriber may fall behind by before it is ended (it may subscribe again).
QUEUE_SIZE = 256
_RETRY_DELAY = 1.0


class Lagging:
    """Put on a subscriber's queue instead of the event that did not fit."""


LAGGING = Lagging()


class EventHub:
    """The process's subscriptions to event channels, over one Redis connection."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._pubsub: PubSub | None = None
        self._subscribers: dict[str, set[asyncio.Queue[Event | Lagging]]] = {}
        # Channels subscribed in Redis (a channel may have subscribers still joining).
        self._joined: set[str] = set()
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        # Events put on a subscriber's queue, and events a lagging subscriber missed.
        self.delivered = 0
        self.dropped = 0

    @asynccontextmanager
    async def listen(self, channel: str) -> AsyncIterator[asyncio.Queue[Event | Lagging]]:
        """A queue of the channel's events while the block runs."""
        if self._closed:
            raise RuntimeError("the event hub is closed")
        queue: asyncio.Queue[Event | Lagging] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            # Shielded, as is leaving: redis-py can swallow a cancellation that arrives in
            # the middle of a command, and the cancelled task would then wait forever.
            await asyncio.shield(self._join(channel))
            yield queue
        finally:
            await asyncio.shield(self._leave(channel, queue))

    async def _join(self, channel: str) -> None:
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = await self._listener.pubsub()
            if channel not in self._joined:
                try:
                    await self._pubsub.subscribe(channel)
                except FAILURES:
                    # This connection is gone: the reader, or the next subscriber, opens
                    # another one.
                    broken, self._pubsub = self._pubsub, None
                    with suppress(*FAILURES):
                        await broken.aclose()  # type: ignore[no-untyped-call]  # redis-py: untyped
                    raise
                self._joined.add(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())

    async def _leave(self, channel: str, queue: asyncio.Queue[Event | Lagging]) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(channel, set())
            subscribers.discard(queue)
            if subscribers:
                return
            self._subscribers.pop(channel, None)
            if channel in self._joined:
                self._joined.discard(channel)
                if self._pubsub is None:  # reconnecting: the channel is not subscribed again
                    return
                try:
                    await self._pubsub.unsubscribe(channel)
                except FAILURES as error:
                    # redis-py forgets the channel all the same: not resubscribed on reconnect.
                    log.warning("could not unsubscribe from %s: %s", channel, error)

    def subscribed(self, channel: str) -> int:
        """Local subscribers of a channel."""
        return len(self._subscribers.get(channel, ()))

    async def _read(self) -> None:
        """Deliver messages until nobody listens any more; survive Redis outages."""
        failing = False
        while self._subscribers and not self._closed:
            try:
                pubsub = self._pubsub
                if failing or pubsub is None:
                    pubsub = await self._reconnect()
                    if pubsub is None:  # no channel is subscribed (any more)
                        return
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except FAILURES as error:
                if not failing:
                    log.warning("event subscriptions lost Redis (%s): reconnecting", error)
                failing = True
                await asyncio.sleep(_RETRY_DELAY)
                continue
            if failing:
                log.warning("event subscriptions reconnected to Redis")
                failing = False
            if message is not None:
                self._deliver(message)

    async def _reconnect(self) -> PubSub | None:
        """A new pub/sub connection, subscribed to every channel someone listens to."""
        async with self._lock:
            old, self._pubsub = self._pubsub, None
            if old is not None:
                with suppress(*FAILURES):
                    await old.aclose()  # type: ignore[no-untyped-call]  # redis-py: untyped
            if not self._joined:
                return None
            pubsub = await self._listener.pubsub()
            try:
                await pubsub.subscribe(*self._joined)
            except BaseException:
                with suppress(*FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: untyped
                raise
            self._pubsub = pubsub
            return pubsub

    def _deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        channel = message["channel"]
        if isinstance(channel, bytes):
            channel = channel.decode()
        event = Event.decode(message["data"])
        if event is None:
            log.warning("ignored a malformed event on %s", channel)
            return
        for queue in self._subscribers.get(channel, ()):
            if queue.full():
                self.dropped += 1
                continue
            if queue.qsize() == queue.maxsize - 1:
                self.dropped += 1
                queue.put_nowait(LAGGING)
            else:
                self.delivered += 1
                queue.put_nowait(event)

    async def aclose(self) -> None:
        """Stop reading and drop the connection (at shutdown)."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with suppress(*FAILURES):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py: untyped
