"""Every name Wren uses in Redis is built here: cache entries, persisted documents, and
the pub/sub channels of subscription events.

Cache entries. All keys start with ``{namespace}:v{VERSION}:`` (namespace from
WREN_CACHE_NAMESPACE). VERSION changes whenever the shape of a cached value or the layout
of the keys changes, so a deploy never decodes values written by the previous release:
the old keys are simply never read again and expire with their TTL.

| key                                           | value                       | expiry         |
|-----------------------------------------------|-----------------------------|----------------|
| ``{p}{gN}:epoch``                             | random token                | none (16 keys) |
| ``{p}{gN}:gen:{kind}:{user_id}``              | random token                | 2 x cache_ttl  |
| ``{p}{gN}:{kind}:{user_id}:{epoch}.{gen}``    | orjson value (see codec.py) | cache_ttl+jit. |
| ``{p}{gN}:lock:{kind}:{user_id}:{epoch}.{gen}`` | owner token               | cache_lock_ttl |
| ``{p}wrote:{user_id}``                        | commit LSN, 16 hex digits   | max lag + 2 s  |

``{p}`` is the prefix, ``{kind}`` is ``stats`` or ``recs``. ``{epoch}.{gen}`` is the entry's
*stamp*: an entry is only ever read under the stamp current at read time. A write bumps
the generation of each entry it makes stale (a fresh random token), so values stored
under the previous stamp become unreachable at once and expire on their own. The epoch
is the same thing for a whole slot group at once; dropping the cache (after a failed
invalidation) bumps the epochs of every group. Tokens are random and never reused, so a
generation key that expired or was evicted can never bring an old value back: a missing
generation is recreated with a new token.

``{gN}`` (literally ``{g7}`` for user 7 or 23: braces included, a Redis Cluster hash tag)
names the user's *slot group* N = ``user_id % SLOT_GROUPS``. Every key of a group hashes
to the same cluster slot whatever the rest of its name, so the Lua read script, which
builds generation and value keys from prefixes and ids, only ever touches keys of the
slot of the epoch key it is given. On a Redis Cluster a batched read is one script call
per slot group present in the batch (at most SLOT_GROUPS, sent to their nodes
concurrently); on a single Redis (or behind Sentinel) one call for all of them. Sixteen
groups spread over the masters of a cluster (three masters own 6, 5 and 5 of their
slots with the default slot ranges) while keeping a warm page of 50 users to 16 calls.

The response cache (cache/responses.py) keeps whole query answers in the same slot
groups: a response's group is taken from its digest (the document, operation name and
variables, and the viewer for private answers), its tags' sets live in every group. Its
key holds the group's epoch, so dropping the cache drops the stored responses too.

| key                                  | value                                | expiry       |
|--------------------------------------|--------------------------------------|--------------|
| ``{p}{gN}:rc:clock``                 | integer, +1 per invalidation         | none         |
| ``{p}{gN}:rc:e:{epoch}:{digest}``    | the answer's `data`, orjson          | the max-age  |
| ``{p}{gN}:rc:t:{tag}``               | set of the group's entry keys        | its longest  |

``wrote:`` keys are the read-your-writes marks of db/routing.py: the WAL position of a
user's last commit, read by every process routing that user's reads.

Persisted documents, under ``{d}`` = WREN_PERSISTED_PREFIX or ``{namespace}:pq:``. They
are not versioned: a document is the same text whatever the release that stored it.

| key                     | value         | expiry                                   |
|-------------------------|---------------|------------------------------------------|
| ``{d}apq:{sha256}``     | document text | WREN_PERSISTED_QUERY_TTL                 |
| ``{d}trusted:{sha256}`` | document text | none (registered by ``wren persist``)    |

Each is read and written alone, so on a Redis Cluster they spread over the slots freely.

Event channels, under ``{c}`` = WREN_EVENTS_PREFIX or ``{namespace}:events:``: Redis keeps
pub/sub channels apart from keys, but they share the deployment's namespace the same way.
``{c}postCreated`` carries every new post, ``{c}commentAdded:{post_id}`` the new comments
of one post (the messages: wren.events.messages). On a Redis Cluster they are ordinary
pub/sub channels, which every node forwards to every other: a process listens on any one
node (wren.cache.client.ClusterListener) and hears what is published on any other.

Rate limits: ``{namespace}:rl:{subject}``, a hash (``tokens``, ``ts``) per viewer
(``viewer:{id}``) or anonymous client address (``addr:{ip}``), expiring once the bucket
would be full again (wren.pipeline.ratelimit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

VERSION = 3
# Slot groups of the cache's keys: each user's keys carry the hash tag of one group.
SLOT_GROUPS = 16


def documents_prefix(namespace: str) -> str:
    """The default prefix of persisted documents in a namespace."""
    return f"{namespace}:pq:"


def rate_limit_key(namespace: str, subject: str) -> str:
    """The token bucket of one viewer or client address."""
    return f"{namespace}:rl:{subject}"


def channels_prefix(namespace: str) -> str:
    """The default prefix of event channels in a namespace."""
    return f"{namespace}:events:"


class Kind(StrEnum):
    """The families of cached entries, one per expensive field."""

    STATS = "stats"
    RECOMMENDATIONS = "recs"


def slot_group(user_id: int) -> int:
    """The slot group of a user's cache keys."""
    return user_id % SLOT_GROUPS


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builders for one namespace."""

    namespace: str

    @property
    def prefix(self) -> str:
        """What every key of this namespace and version starts with."""
        return f"{self.namespace}:v{VERSION}:"

    def group_prefix(self, group: int) -> str:
        """What every key of one slot group starts with: the prefix and the hash tag."""
        return f"{self.prefix}{{g{group}}}:"

    def epoch(self, group: int) -> str:
        """The token shared by every entry of a slot group."""
        return f"{self.group_prefix(group)}epoch"

    @property
    def epochs(self) -> list[str]:
        """The epoch keys of every slot group: bumping them all drops the whole cache."""
        return [self.epoch(group) for group in range(SLOT_GROUPS)]

    def generations_prefix(self, kind: Kind, group: int) -> str:
        """Start of a group's generation keys of a kind; the Lua read script appends the id."""
        return f"{self.group_prefix(group)}gen:{kind}:"

    def generation(self, kind: Kind, user_id: int) -> str:
        """The token of one user's entry of one kind."""
        return f"{self.generations_prefix(kind, slot_group(user_id))}{user_id}"

    def generations(self, kind: Kind, user_ids: Iterable[int]) -> list[str]:
        """Generation keys of many users."""
        return [self.generation(kind, user_id) for user_id in user_ids]

    def values_prefix(self, kind: Kind, group: int) -> str:
        """Start of a group's value keys of a kind; the Lua read script appends id and stamp."""
        return f"{self.group_prefix(group)}{kind}:"

    def value(self, kind: Kind, user_id: int, stamp: str) -> str:
        """Where one entry's value lives under its stamp."""
        return f"{self.values_prefix(kind, slot_group(user_id))}{user_id}:{stamp}"

    def lock(self, kind: Kind, user_id: int, stamp: str) -> str:
        """The right to compute one entry under its stamp."""
        return f"{self.group_prefix(slot_group(user_id))}lock:{kind}:{user_id}:{stamp}"

    def response_clock(self, group: int) -> str:
        """A slot group's count of invalidations: a response computed across one is not stored."""
        return f"{self.group_prefix(group)}rc:clock"

    def responses_prefix(self, group: int) -> str:
        """Start of a group's stored responses; the Lua lookup appends generation and digest."""
        return f"{self.group_prefix(group)}rc:e:"

    def response_tags_prefix(self, group: int) -> str:
        """Start of a group's tag sets (the responses holding a tag); the tag is appended."""
        return f"{self.group_prefix(group)}rc:t:"

    def write_mark(self, user_id: int) -> str:
        """Where a user's last commit LSN is kept (read-your-writes on replicas)."""
        return f"{self.prefix}wrote:{user_id}"


@dataclass(frozen=True, slots=True)
class DocumentKeys:
    """Keys of persisted documents under one prefix."""

    prefix: str

    def apq(self, digest: str) -> str:
        """An automatic persisted query, by the SHA-256 of its text."""
        return f"{self.prefix}apq:{digest}"

    def trusted(self, digest: str) -> str:
        """A trusted document, by the SHA-256 of one of its client forms."""
        return f"{self.prefix}trusted:{digest}"


@dataclass(frozen=True, slots=True)
class Channels:
    """The event channels under one prefix."""

    prefix: str

    @property
    def post_created(self) -> str:
        """Every new post, whoever wrote it."""
        return f"{self.prefix}postCreated"

    def comment_added(self, post_id: int) -> str:
        """New comments on one post."""
        return f"{self.prefix}commentAdded:{post_id}"
