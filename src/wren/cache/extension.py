"""The `cache` response extension: what the cache did for this request (WREN_CACHE_REPORT)."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension


class CacheCountersExtension(SchemaExtension):
    """Adds `extensions.cache` (hits, misses, computed, shared, errors) to each response."""

    def get_results(self) -> dict[str, Any]:
        """The request's cache counters, when WREN_CACHE_REPORT is on outside production."""
        context = self.execution_context.context
        settings = context.settings
        if not settings.cache_report or settings.production:
            return {}
        return {"cache": context.cache.counters.as_dict()}
