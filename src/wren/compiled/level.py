"""Level forms: a resolver's batched twin, for the fast path.

The fast path resolves a level's objects together, yet calls a field's resolver once
per object: for a page of fifty users, fifty loader futures and fifty callbacks that
all end in the same batch. A resolver marked with `level_form(fn)` is served instead by
one call `fn(objects, **arguments)` that returns the values of every object, in order
(a list, or an awaitable of one): one batch, one future. graphql-core, which completes
objects one at a time, keeps calling the resolver itself, so both must give the same
values; the compiled tests compare them.

A level form calls its loader's batch function directly: one statement per field per
level, as the loader would send, but without the loader's memo, so two aliases of one
field on one level send two statements instead of sharing one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_ATTRIBUTE = "__wren_level_form__"


def level_form(batched: Callable[..., Any]) -> Callable[[F], F]:
    """Mark a resolver as served, on the fast path, by `batched`: the same parameters,
    except that its first receives the list of parent objects instead of one parent."""

    def mark(resolver: F) -> F:
        setattr(resolver, _ATTRIBUTE, batched)
        return resolver

    return mark


def level_form_of(resolver: Callable[..., Any]) -> Callable[..., Any] | None:
    """The batched form of a resolver, if it has one."""
    form: Callable[..., Any] | None = getattr(resolver, _ATTRIBUTE, None)
    return form
