"""The Redis clients: one server, a Redis Cluster or a Sentinel-managed master when
configured, an in-process stand-in otherwise.

Every process has two: the cache's client (short timeouts, no retries: a failed call is
skipped and the circuit breaker decides when to try again), which also publishes events
and keeps persisted documents, and a listener that opens the process's one pub/sub
connection (no read timeout: it idles between events), again after a failure.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from redis.asyncio import Redis, RedisCluster
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException, RedisError

from wren.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio.client import PubSub

log = logging.getLogger(__name__)

# What the cache's client is: the calls Wren makes are the same on all three.
RedisClient = Redis | RedisCluster
# Errors that mean "Redis did not answer properly": the cache is skipped, never the
# request. RedisClusterException (no node reachable, say) is not a RedisError.
FAILURES = (RedisError, RedisClusterException, OSError, TimeoutError)
# On a cluster, more: a command in flight while the client's connections are closed for a
# topology refresh (after a master is lost) fails inside redis-py with AttributeError (its
# connection's writer is gone). Still "Redis did not answer", never the request's failure.
CLUSTER_FAILURES = (*FAILURES, AttributeError)


class Listener(Protocol):
    """Where the process's pub/sub connection comes from."""

    async def pubsub(self) -> PubSub:
        """A new pub/sub connection, subscribed to nothing yet."""
        ...

    async def aclose(self) -> None:
        """Close what the listener opened."""
        ...


@dataclass
class ServerListener:
    """Pub/sub on one server (or on the master Sentinel names: each connection asks)."""

    redis: Redis
    owned: bool = True

    async def pubsub(self) -> PubSub:
        """A pub/sub connection of the server's client."""
        return self.redis.pubsub(ignore_subscribe_messages=True)

    async def aclose(self) -> None:
        """Close the client, unless it is the cache's own (the stand-in)."""
        if self.owned:
            await self.redis.aclose()


@dataclass
class ClusterListener:
    """Pub/sub on any one node of a Redis Cluster.

    Every node forwards what is published on any node to all the others, so one
    connection to any node hears every channel. When it fails, the next one goes to a
    node that answers, taken from the cluster's current node list (masters first, in a
    random order, so that processes spread; then replicas).
    """

    cluster: RedisCluster
    options: dict[str, Any]
    _node: Redis | None = field(default=None, init=False)

    async def pubsub(self) -> PubSub:
        """A pub/sub connection to a node that answers now."""
        await self._drop()
        await self.cluster.initialize()  # the node list, if the cache has not asked yet
        primaries = self.cluster.get_primaries()
        replicas = self.cluster.get_replicas()
        random.shuffle(primaries)
        random.shuffle(replicas)
        for node in [*primaries, *replicas]:
            client = Redis(host=node.host, port=int(node.port), **self.options)
            try:
                async with asyncio.timeout(self.options["socket_connect_timeout"] * 2):
                    await client.ping()
            except FAILURES:
                await client.aclose()
                continue
            self._node = client
            return client.pubsub(ignore_subscribe_messages=True)
        raise RedisClusterException("no node of the Redis Cluster answers")

    @property
    def node(self) -> tuple[str, int] | None:
        """The host and port of the node listened to, if any."""
        if self._node is None:
            return None
        kwargs = self._node.connection_pool.connection_kwargs
        return kwargs["host"], kwargs["port"]

    async def _drop(self) -> None:
        if self._node is not None:
            node, self._node = self._node, None
            await node.aclose()

    async def aclose(self) -> None:
        """Close the current node's client (the cluster's is the cache's)."""
        await self._drop()


@dataclass
class RedisClients:
    """The clients of one process, closed together."""

    cache: RedisClient
    listener: Listener
    # Sentinel's own clients, one per sentinel.
    sentinels: list[Redis] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close every connection the clients opened."""
        await self.listener.aclose()
        await self.cache.aclose()
        for sentinel in self.sentinels:
            await sentinel.aclose()


def _credentials(url: str | None) -> dict[str, Any]:
    """What a URL says beside where the server is: user, password, database number."""
    if url is None:
        return {}
    options = parse_url(url)
    return {name: options[name] for name in ("username", "password", "db") if name in options}


def create_clients(settings: Settings) -> RedisClients:
    """The process's Redis clients; nothing connects until the first call."""
    # No retries inside the clients: a failed call is skipped (the request answers from
    # PostgreSQL) and the circuit breaker decides when to try Redis again.
    cache_options: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout,
        "socket_connect_timeout": settings.redis_timeout,
        "health_check_interval": 30,
        "retry": Retry(NoBackoff(), 0),
    }
    # Unlike the cache's connections, the pub/sub connection has no read timeout. It
    # does not retry either: the event hub opens a new one (wren.events.hub).
    listener_options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_timeout,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": Retry(NoBackoff(), 0),
    }
    if settings.redis_cluster:
        assert settings.redis_url is not None  # settings refuse a cluster without a node
        cluster = RedisCluster.from_url(settings.redis_url, **cache_options)
        credentials = {
            name: value
            for name, value in cluster.connection_kwargs.items()
            if name in {"username", "password"} and value is not None
        }
        return RedisClients(cluster, ClusterListener(cluster, listener_options | credentials))
    if settings.redis_sentinels:
        sentinel = Sentinel(  # type: ignore[no-untyped-call]  # redis-py: untyped
            settings.sentinel_addresses,
            # A Sentinel that does not answer is skipped for the next one at once.
            sentinel_kwargs={
                "socket_timeout": settings.redis_timeout,
                "socket_connect_timeout": settings.redis_timeout,
                "retry": Retry(NoBackoff(), 0),
            },
        )
        master = settings.redis_sentinel_master
        options = _credentials(settings.redis_url)
        return RedisClients(
            sentinel.master_for(master, **cache_options, **options),
            ServerListener(sentinel.master_for(master, **listener_options, **options)),
            sentinels=list(sentinel.sentinels),
        )
    if settings.redis_url is None:
        from fakeredis import FakeAsyncRedis

        log.warning(
            "WREN_REDIS_URL is not set: caching in an in-process stand-in "
            "(not shared between workers; set WREN_REDIS_URL to a real Redis for production)"
        )
        stand_in: Redis = FakeAsyncRedis()
        return RedisClients(stand_in, ServerListener(stand_in, owned=False))
    return RedisClients(
        Redis.from_url(settings.redis_url, **cache_options),
        ServerListener(Redis.from_url(settings.redis_url, **listener_options)),
    )
