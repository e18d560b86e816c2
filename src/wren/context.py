"""The typed Context: settings, viewer, loaders, cache and events, fresh per request or socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from strawberry.fastapi import BaseContext

from wren.cache.fields import RequestCache
from wren.db.loaders import Loaders
from wren.db.routing import RoutedDatabase

if TYPE_CHECKING:
    from wren.accounts import Accounts
    from wren.accounts.tokens import Claims
    from wren.cache.responses import ResponseCache
    from wren.cache.store import CacheStore
    from wren.db.engine import Database
    from wren.errors import Unauthenticated
    from wren.events.bus import Events
    from wren.pipeline.ratelimit import Throttle
    from wren.settings import Settings


class Context(BaseContext):
    """What every resolver can reach: one per request or WebSocket connection, never shared."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        store: CacheStore,
        accounts: Accounts,
        viewer_id: int | None = None,
        claims: Claims | None = None,
        auth_error: Unauthenticated | None = None,
        events: Events | None = None,
        responses: ResponseCache | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        # Reads routed to a replica where they may be, writes on the primary (db/routing.py).
        self.db = RoutedDatabase(db, viewer_id)
        self.accounts = accounts
        self.viewer_id = viewer_id
        # The viewer's session (what logOut ends), when a valid token came with the request.
        self.claims = claims
        # Set by the pipeline for each operation: what log lines name the request by.
        self.request_id: str | None = None
        # Set when the request carried a bad token: the request is refused as a whole.
        self.auth_error = auth_error
        # None only where nothing subscribes (tools, some tests): writes then announce nothing.
        self.events = events
        self.loaders = Loaders(self.db)
        self._store = store
        self._cache: RequestCache | None = None
        # Whole answers of cacheable queries (None: WREN_RESPONSE_CACHE is off).
        self.responses = responses
        # What this request took from its rate limit (the `rateLimit` field reads it).
        self.rate_limit: Throttle | None = None

    @property
    def cache(self) -> RequestCache:
        """The cache as this request sees it, made when first read (most requests read
        nothing cached)."""
        if self._cache is None:
            self._cache = RequestCache(self._store, self.loaders)
        return self._cache

    def reset_loaders(self, *, at_least: int | None = None) -> None:
        """Forget what this request read so far: a write it made may have changed it.

        With `at_least` (a subscription event's commit position), the next reads also
        choose their server again, one that has replayed that commit.
        """
        if at_least is not None:
            self.db = self.db.renewed(at_least=at_least)
        self.loaders = Loaders(self.db)
        if self._cache is not None:
            self._cache = self._cache.renewed(self.loaders)


Info: TypeAlias = strawberry.Info[Context, None]
