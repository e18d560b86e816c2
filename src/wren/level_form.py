"""Level forms: the mark by which a resolver names its batched twin.

The fast path resolves a level's objects together, yet graphql-core calls a field's
resolver once per object: for a page of fifty users, fifty loader futures and fifty
callbacks that all end in the same batch. A resolver marked with a level form `fn` is
served on the fast path by one call `fn(objects, **arguments)` that returns the values of
every object, in order (a list, or an awaitable of one): one batch, one future.

A level form may also render: given, when a plan is compiled, what is selected below its
field (`Selected`), it may answer with a `Rendering`, another level form whose values
carry some of those response keys already finished as JSON (orjson fragments built by
PostgreSQL in the level's one statement). The fast path then neither builds nor completes
anything below those keys: their values go into the response as they are. A rendering
may also give the field's whole value (a root lookup such as `userByHandle` whose
selection is only columns): then nothing at all is completed below the field.

The schema sets the mark (`wren.schema.levels` derives both forms of a field from one
definition) and the fast path reads it (`wren.compiled`): this module is all the two
share, so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

_ATTRIBUTE = "__wren_level_form__"
_RENDERS = "__wren_renders__"


class Selected(NamedTuple):
    """One response key of a selection: its field, whether the field was given
    arguments, and what is selected below it (None for a leaf); `values`, the field's
    argument values (defaults included) when none of them comes from a variable."""

    key: str
    name: str
    arguments: bool
    children: tuple[Selected, ...] | None
    values: tuple[tuple[str, Any], ...] | None = None


class Rendering(NamedTuple):
    """A level form to call instead, and the keys below the field whose values it gives
    as finished JSON; or, `whole`, a level form whose values are the field's own JSON
    (an object with everything selected below it, or None), nothing below it planned."""

    form: Callable[..., Any]
    keys: frozenset[str]
    whole: bool = False


Renders = Callable[[tuple[Selected, ...]], Rendering | None]


def mark_level_form(
    resolver: Callable[..., Any], form: Callable[..., Any], renders: Renders | None = None
) -> None:
    """Record `form` as the level form of `resolver` (and `renders`, how it may render)."""
    setattr(resolver, _ATTRIBUTE, form)
    if renders is not None:
        setattr(resolver, _RENDERS, renders)


def level_form_of(resolver: Callable[..., Any]) -> Callable[..., Any] | None:
    """The level form of a resolver, if it has one."""
    form: Callable[..., Any] | None = getattr(resolver, _ATTRIBUTE, None)
    return form


def renders_of(resolver: Callable[..., Any]) -> Renders | None:
    """How the level form of a resolver renders a selection, if it can."""
    renders: Renders | None = getattr(resolver, _RENDERS, None)
    return renders
