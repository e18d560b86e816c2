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
    """Headers looked up in a dict: the first value of a repeated header, as Starlette's.

    The dict maps the raw names to the raw values (`dict` of the reversed list keeps each
    name's first value), and a lookup decodes only the value it finds: a request has
    seven or more headers and the endpoint reads four or five of them, so decoding every
    name and value up front (as this did) cost more than it saved.
    """

    def __init__(self, scope: Scope) -> None:
        raw = scope["headers"]
        if not isinstance(raw, list):
            raw = list(raw)
        # Headers' own attribute (raw, keys, items, getlist read it); not a copy.
        self._list = raw
        # Raw lower-case names to raw first values (a dict's `in` and `get` with a bytes
        # key: no method call or decoding on the hot path).
        self.index: dict[bytes, bytes] = dict(reversed(raw))

    def __getitem__(self, key: str) -> str:
        return self.index[key.lower().encode("latin-1")].decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self.index

    def get(self, key: str, default: Any = None) -> Any:
        """The header's (first) value, or `default`."""
        value = self.index.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")


class GraphQLRequest(Request):
    """A Starlette request whose headers are IndexedHeaders."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        super().__init__(scope, receive)
        self._indexed = IndexedHeaders(scope)

    @property
    def headers(self) -> IndexedHeaders:
        """The request's headers, indexed."""
        return self._indexed
