"""The typed Context: settings, viewer, loaders, cache and events, fresh per request or socket."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import strawberry
from strawberry.fastapi import BaseContext

from wren.cache.fields import RequestCache
from wren.db.loaders import Loaders

if TYPE_CHECKING:
    from wren.accounts import Accounts
    from wren.accounts.tokens import Claims
    from wren.cache.store import CacheStore
    from wren.db.engine import Database
    from wren.errors import Unauthenticated
    from wren.events.bus import Events
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
    ) -> None:
        super().__init__()
        self.settings = settings
        self.db = db
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
        self.loaders = Loaders(db)
        self.cache = RequestCache(store, self.loaders)

    def reset_loaders(self) -> None:
        """Forget what this request read so far: a write it made may have changed it."""
        self.loaders = Loaders(self.db)
        self.cache = self.cache.renewed(self.loaders)


Info: TypeAlias = strawberry.Info[Context, None]
