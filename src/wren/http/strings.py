"""Strings PostgreSQL cannot hold: a NUL character in any input is refused up front.

PostgreSQL text never contains U+0000, and asking it to compare one fails the statement;
such an input can match nothing and store nothing, so it is a client error, found here.
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, StringValueNode, Visitor, visit

from wren.http.errors import RequestRefused

NUL = "\x00"


class _NulFinder(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if NUL in node.value:
            self.found = True
            return Visitor.BREAK
        return None


def document_has_nul(document: DocumentNode) -> bool:
    """True when a string literal of the document holds a NUL character."""
    finder = _NulFinder()
    visit(document, finder)
    return finder.found


def value_has_nul(value: Any) -> bool:
    """True when a string anywhere in a JSON value holds a NUL character."""
    # Iterative: JSON may nest a thousand levels deep, past Python's recursion limit.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def refuse_nul() -> RequestRefused:
    """The refusal of an input holding a NUL character."""
    return RequestRefused(
        None, "Strings may not contain the NUL character (U+0000).", "BAD_USER_INPUT"
    )
