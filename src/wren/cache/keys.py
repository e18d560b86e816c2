"""Every name Wren uses in Redis is built here: cache entries, persisted documents, and
the pub/sub channels of subscription events.

Cache entries. All keys start with ``{namespace}:v{VERSION}:`` (namespace from
WREN_CACHE_NAMESPACE). VERSION changes whenever the shape of a cached value changes, so a
deploy never decodes values written by the previous release: the old keys are simply
never read again and expire with their TTL.

| key                                         | value                          | expiry         |
|---------------------------------------------|--------------------------------|----------------|
| ``{p}epoch``                                | random token                   | none (one key) |
| ``{p}gen:{kind}:{user_id}``                 | random token                   | 2 x cache_ttl  |
| ``{p}{kind}:{user_id}:{epoch}.{gen}``       | orjson value (see codec.py)    | cache_ttl+jit. |
| ``{p}lock:{kind}:{user_id}:{epoch}.{gen}``  | owner token                    | cache_lock_ttl |
| ``{p}wrote:{user_id}``                      | commit LSN, 16 hex digits      | max lag + 2 s  |

``{p}`` is the prefix, ``{kind}`` is ``stats`` or ``recs``. ``{epoch}.{gen}`` is the entry's
*stamp*: an entry is only ever read under the stamp current at read time. A write bumps
the generation of each entry it makes stale (a fresh random token), so values stored
under the previous stamp become unreachable at once and expire on their own. The epoch
is the same thing for the whole cache at once (bumped after a failed invalidation).
Tokens are random and never reused, so a generation key that expired or was evicted
can never bring an old value back: a missing generation is recreated with a new token.
Generation and value keys are built inside a Lua script from prefixes and ids, so this
layout assumes a standalone Redis (or one cluster slot), not Redis Cluster's key
distribution. ``wrote:`` keys are the read-your-writes marks of db/routing.py: the WAL
position of a user's last commit, read by every process routing that user's reads.

Persisted documents, under ``{d}`` = WREN_PERSISTED_PREFIX or ``{namespace}:pq:``. They
are not versioned: a document is the same text whatever the release that stored it.

| key                     | value         | expiry                                   |
|-------------------------|---------------|------------------------------------------|
| ``{d}apq:{sha256}``     | document text | WREN_PERSISTED_QUERY_TTL                 |
| ``{d}trusted:{sha256}`` | document text | none (registered by ``wren persist``)    |

Event channels, under ``{c}`` = WREN_EVENTS_PREFIX or ``{namespace}:events:``: Redis keeps
pub/sub channels apart from keys, but they share the deployment's namespace the same way.
``{c}postCreated`` carries every new post, ``{c}commentAdded:{post_id}`` the new comments
of one post (the messages: wren.events.messages).

Rate limits: ``{namespace}:rl:{subject}``, a hash (``tokens``, ``ts``) per viewer
(``viewer:{id}``) or anonymous client address (``addr:{ip}``), expiring once the bucket
would be full again (wren.pipeline.ratelimit).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

VERSION = 2


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


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builders for one namespace."""

    namespace: str

    @property
    def prefix(self) -> str:
        """What every key of this namespace and version starts with."""
        return f"{self.namespace}:v{VERSION}:"

    @property
    def epoch(self) -> str:
        """The token shared by every entry: bumping it drops the whole cache."""
        return f"{self.prefix}epoch"

    def generations_prefix(self, kind: Kind) -> str:
        """Start of the generation keys of a kind; the Lua read script appends the id."""
        return f"{self.prefix}gen:{kind}:"

    def generation(self, kind: Kind, user_id: int) -> str:
        """The token of one user's entry of one kind."""
        return f"{self.generations_prefix(kind)}{user_id}"

    def generations(self, kind: Kind, user_ids: Iterable[int]) -> list[str]:
        """Generation keys of many users."""
        return [self.generation(kind, user_id) for user_id in user_ids]

    def values_prefix(self, kind: Kind) -> str:
        """Start of the value keys of a kind; the Lua read script appends id and stamp."""
        return f"{self.prefix}{kind}:"

    def value(self, kind: Kind, user_id: int, stamp: str) -> str:
        """Where one entry's value lives under its stamp."""
        return f"{self.values_prefix(kind)}{user_id}:{stamp}"

    def lock(self, kind: Kind, user_id: int, stamp: str) -> str:
        """The right to compute one entry under its stamp."""
        return f"{self.prefix}lock:{kind}:{user_id}:{stamp}"

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
