"""Persisted documents in Redis: Apollo's automatic persisted queries, and trusted documents."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wren.cache.client import FAILURES
from wren.cache.keys import DocumentKeys
from wren.pipeline.errors import RequestRefused

if TYPE_CHECKING:
    from wren.cache.client import RedisClient
    from wren.pipeline.params import Params
    from wren.settings import Settings

log = logging.getLogger("wren.http")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"


def sha256_hex(text: str) -> str:
    """The hash Apollo clients send for a document: SHA-256 of its UTF-8 text, in hex."""
    return hashlib.sha256(text.encode()).hexdigest()


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The hash of `extensions.persistedQuery`, if the request carries one."""
    if not extensions or "persistedQuery" not in extensions:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise RequestRefused(400, "Unsupported persisted query version.", "BAD_REQUEST")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or len(digest) != 64:
        raise RequestRefused(400, "`sha256Hash` must be 64 hexadecimal digits.", "BAD_REQUEST")
    return digest.lower()


def _not_found() -> RequestRefused:
    # The message and code Apollo Client's persisted-queries link looks for.
    return RequestRefused(None, "PersistedQueryNotFound", NOT_FOUND)


def _mismatch() -> RequestRefused:
    return RequestRefused(400, "provided sha does not match query", "BAD_REQUEST")


class PersistedDocuments:
    """Looks documents up by hash: a small local memo in front of Redis."""

    def __init__(self, settings: Settings, size: int = 1000) -> None:
        self.settings = settings
        self.keys = DocumentKeys(settings.persisted_key_prefix)
        self.size = size
        self._known: OrderedDict[str, str] = OrderedDict()

    def _remember(self, digest: str, text: str) -> None:
        self._known[digest] = text
        self._known.move_to_end(digest)
        if len(self._known) > self.size:
            self._known.popitem(last=False)

    async def lookup(self, redis: RedisClient, digest: str) -> str | None:
        """The document of this hash (trusted ones only in trusted mode), or None."""
        text = self._known.get(digest)
        if text is not None:
            return text
        key = (
            self.keys.trusted(digest) if self.settings.trusted_documents else self.keys.apq(digest)
        )
        try:
            async with asyncio.timeout(self.settings.redis_timeout):
                raw = await redis.get(key)
        except FAILURES:
            log.warning("persisted document lookup failed", exc_info=True)
            return None
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        self._remember(digest, text)
        return text

    async def store(self, redis: RedisClient, digest: str, text: str) -> None:
        """Keep a validated document for its hash, with the configured TTL."""
        if digest in self._known:
            return
        try:
            async with asyncio.timeout(self.settings.redis_timeout):
                await redis.set(self.keys.apq(digest), text, ex=self.settings.persisted_query_ttl)
        except FAILURES:
            log.warning("persisted document store failed", exc_info=True)
            return
        self._remember(digest, text)

    def plain(self, params: Params) -> str | None:
        """The request's own document when there is nothing to look up or to persist
        (no extensions, documents not only trusted ones): most requests, without a
        coroutine."""
        if params.extensions is None and not self.settings.trusted_documents:
            return params.query
        return None

    async def document(
        self, params: Params, redis: Callable[[], RedisClient]
    ) -> tuple[str, str | None]:
        """The document a request runs, and the hash to persist it under once it validates."""
        digest = requested_hash(params.extensions)
        query = params.query
        if self.settings.trusted_documents:
            if query is not None:
                actual = sha256_hex(query)
                if digest is not None and digest != actual:
                    raise _mismatch()
                digest = actual
            if digest is None:
                raise RequestRefused(400, "Send a trusted document or its hash.", "BAD_REQUEST")
            text = await self.lookup(redis(), digest)
            if text is None:
                raise _not_found()
            return text, None
        if digest is not None:
            if not self.settings.persisted_queries:
                raise RequestRefused(None, "PersistedQueryNotSupported", NOT_SUPPORTED)
            if query is None:
                text = await self.lookup(redis(), digest)
                if text is None:
                    raise _not_found()
                return text, None
            if sha256_hex(query) != digest:
                raise _mismatch()
            return query, digest
        if query is None:
            raise RequestRefused(400, "The request has no `query`.", "BAD_REQUEST")
        return query, None
