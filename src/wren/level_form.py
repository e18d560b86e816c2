"""Level forms: the mark by which a resolver names its batched twin.

The fast path resolves a level's objects together, yet graphql-core calls a field's
resolver once per object: for a page of fifty users, fifty loader futures and fifty
callbacks that all end in the same batch. A resolver marked with a level form `fn` is
served on the fast path by one call `fn(objects, **arguments)` that returns the values of
every object, in order (a list, or an awaitable of one): one batch, one future.

The schema sets the mark (`wren.schema.levels` derives both forms of a field from one
definition) and the fast path reads it (`wren.compiled`): this module is all the two
share, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ATTRIBUTE = "__wren_level_form__"


def mark_level_form(resolver: Callable[..., Any], form: Callable[..., Any]) -> None:
    """Record `form` as the level form of `resolver`."""
    setattr(resolver, _ATTRIBUTE, form)


def level_form_of(resolver: Callable[..., Any]) -> Callable[..., Any] | None:
    """The level form of a resolver, if it has one."""
    form: Callable[..., Any] | None = getattr(resolver, _ATTRIBUTE, None)
    return form
