"""Connection arguments: `first` within bounds and `after` as a keyset cursor."""

from __future__ import annotations

from wren.errors import BadUserInput
from wren.ids import Keyset, decode_cursor

MAX_FIRST = 100


def page_args(first: int, after: str | None) -> tuple[int, Keyset | None]:
    """Validated (first, position after which the page starts)."""
    if not 0 <= first <= MAX_FIRST:
        raise BadUserInput(
            f"`first` must be between 0 and {MAX_FIRST}, got {first}.", argument="first"
        )
    return first, None if after is None else decode_cursor(after)
