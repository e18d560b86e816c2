"""The request of the /graphql endpoint: Starlette's, with its headers indexed once.

Starlette's `Headers` scans every header, decoding each, on every lookup; a request to
/graphql looks up six or more (Accept, Content-Type, Content-Length, Authorization, ...),
which cost about 4 % of the CPU of a `{ __typename }` (bench/results/http-path.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers
from starlette.requests import Request

if TYPE_CHECKING:
    from starlette.types import Receive, Scope


class IndexedHeaders(Headers):
    """Headers looked up in a dict: the first value of a repeated header, as Starlette's."""

    def __init__(self, scope: Scope) -> None:
        super().__init__(scope=scope)
        index: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in index:
                index[key] = value.decode("latin-1")
        # Lower-case names to first values (a dict's `get`: no method call on the hot path).
        self.index = index

    def __getitem__(self, key: str) -> str:
        return self.index[key.lower()]

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower() in self.index

    def get(self, key: str, default: Any = None) -> Any:
        """The header's (first) value, or `default`."""
        return self.index.get(key.lower(), default)


class GraphQLRequest(Request):
    """A Starlette request whose headers are IndexedHeaders."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        super().__init__(scope, receive)
        self._indexed = IndexedHeaders(scope)

    @property
    def headers(self) -> IndexedHeaders:
        """The request's headers, indexed."""
        return self._indexed
