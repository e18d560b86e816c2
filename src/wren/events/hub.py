"""One Redis pub/sub connection per process, fanned out to the subscriptions it serves.

Each channel is subscribed in Redis once, however many local subscribers it has, and
unsubscribed when the last one leaves. When the connection drops, the reader logs a
warning and reconnects (redis-py subscribes the channels again on reconnect); events
published meanwhile are lost, as pub/sub never keeps them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from wren.events.messages import Event

log = logging.getLogger(__name__)

FAILURES = (RedisError, OSError, TimeoutError)
# Events a subscriber may fall behind by before it is ended (it may subscribe again).
QUEUE_SIZE = 256
_RETRY_DELAY = 1.0


class Lagging:
    """Put on a subscriber's queue instead of the event that did not fit."""


LAGGING = Lagging()


class EventHub:
    """The process's subscriptions to event channels, over one Redis connection."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
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
                self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            if channel not in self._joined:
                await self._pubsub.subscribe(channel)
                self._joined.add(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read(self._pubsub))

    async def _leave(self, channel: str, queue: asyncio.Queue[Event | Lagging]) -> None:
        async with self._lock:
            subscribers = self._subscribers.get(channel, set())
            subscribers.discard(queue)
            if subscribers:
                return
            self._subscribers.pop(channel, None)
            if channel in self._joined and self._pubsub is not None:
                self._joined.discard(channel)
                try:
                    await self._pubsub.unsubscribe(channel)
                except FAILURES as error:
                    # redis-py forgets the channel all the same: not resubscribed on reconnect.
                    log.warning("could not unsubscribe from %s: %s", channel, error)

    def subscribed(self, channel: str) -> int:
        """Local subscribers of a channel."""
        return len(self._subscribers.get(channel, ()))

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver messages until nobody listens any more; survive Redis outages."""
        failing = False
        while self._subscribers and not self._closed:
            try:
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
