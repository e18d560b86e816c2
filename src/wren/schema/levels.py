"""Fields defined once, with their batch: the per-object resolver and the level form derived.

A batched field is written as a function of its arguments (and `info`) that returns a
Lookup: the key of a parent, the loader that batches keys, and how a parent's value is
built from what was loaded. `@batched` turns it into both forms of the field:

- the resolver graphql-core calls per object, `Lookup.one`: one `loader.load(key)`, so
  the per-request DataLoader batches every object of a tick into one statement;
- the level form the fast path calls once per level (see wren.level_form),
  `Lookup.many`: the keys of every object of the level handed to the loader's batch
  function directly, one statement and one future for the level.

Both build values with the same function from the same rows, so the two paths cannot
drift apart. A level form skips the loader's memo: two aliases of one field on one level
send two statements instead of sharing one.

`@batched(renders=...)` adds a third form for the fast path only: when a plan is compiled,
`renders(selection)` may name keys below the field that PostgreSQL can write as JSON
(db/rendered.py) and a spec of how; the Lookup's `render(spec)` then reads the level's
rows with that JSON instead of the columns objects are built from.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, TypeVar, cast, overload

from aiodataloader import DataLoader

from wren.level_form import Rendering, Selected, mark_level_form
from wren.schema.futures import then

F = TypeVar("F", bound=Callable[..., Any])
# The parent object: a Lookup of any Node serves a field of User or Post.
P = TypeVar("P", contravariant=True)
K = TypeVar("K")  # the loader's key
V = TypeVar("V")  # what the loader gives for a key
R = TypeVar("R")  # the field's value

# What a field may render below it: the keys, and a spec its Lookup's `render` takes.
Renderer = Callable[[tuple[Selected, ...]], tuple[frozenset[str], Any] | None]


def level_form(form: Callable[..., Any]) -> Callable[[F], F]:
    """Mark a resolver as served, on the fast path, by `form`: the same parameters, except
    that its first receives the list of parent objects instead of one parent."""

    def mark(resolver: F) -> F:
        mark_level_form(resolver, form)
        return resolver

    return mark


class Lookup(Generic[P, K, V, R]):
    """How a field is fetched for any of its parents, once its arguments are known."""

    __slots__ = ("batch", "build", "key", "load", "render")

    @overload
    def __init__(
        self: Lookup[P, K, V, V],
        key: Callable[[P], K],
        load: Callable[[K], Awaitable[V]],
        batch: Callable[[list[K]], Awaitable[list[V]]],
        build: None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        key: Callable[[P], K],
        load: Callable[[K], Awaitable[V]],
        batch: Callable[[list[K]], Awaitable[list[V]]],
        build: Callable[[K, V], R],
    ) -> None: ...

    def __init__(
        self,
        key: Callable[[P], K],
        load: Callable[[K], Awaitable[V]],
        batch: Callable[[list[K]], Awaitable[list[V]]],
        build: Callable[[K, V], R] | None = None,
    ) -> None:
        """`load` batches per tick (a loader's), `batch` takes a level's keys at once (its
        batch function); `build` makes the value from a key and what was loaded for it
        (none: the loaded value is the field's)."""
        self.key = key
        self.load = load
        self.batch = batch
        self.build = build
        # The Lookup reading rendered rows, from the spec of a `renders` (see batched).
        self.render: Callable[[Any], Lookup[P, Any, Any, Any]] | None = None

    def one(self, parent: P) -> Awaitable[R]:
        """The value for one parent, through the loader."""
        key = self.key(parent)
        loaded = self.load(key)
        build = self.build
        if build is None:
            return cast("Awaitable[R]", loaded)
        return then(loaded, partial(build, key))

    def many(self, parents: list[P]) -> Awaitable[list[R]]:
        """The values for a level of parents, in order, through one batch."""
        keys = list(map(self.key, parents))
        loaded = self.batch(keys)
        build = self.build
        if build is None:
            return cast("Awaitable[list[R]]", loaded)
        return then(loaded, lambda found: [build(k, v) for k, v in zip(keys, found, strict=True)])


@overload
def through(loader: DataLoader[K, V], key: Callable[[P], K]) -> Lookup[P, K, V, V]: ...


@overload
def through(
    loader: DataLoader[K, V], key: Callable[[P], K], build: Callable[[K, V], R]
) -> Lookup[P, K, V, R]: ...


def through(
    loader: DataLoader[K, V], key: Callable[[P], K], build: Callable[[K, V], R] | None = None
) -> Lookup[P, K, V, V] | Lookup[P, K, V, R]:
    """The Lookup of a per-request DataLoader: its `load`, and its batch function."""
    if build is None:
        return Lookup(key, loader.load, loader.batch_load_fn)
    return Lookup(key, loader.load, loader.batch_load_fn, build)


def batched(
    definition: Callable[..., Any] | None = None, *, renders: Renderer | None = None
) -> Any:
    """The resolver of a field defined by `definition(info, **arguments)`, which returns
    the field's Lookup (or one value for every parent), marked with its level form (and,
    with `renders`, how that level form renders a selection below the field).

    Strawberry reads the resolver's parameters from `definition`'s signature (with
    `self` in front) and its annotations in `definition`'s module; the field's GraphQL
    type comes from `strawberry.field(graphql_type=...)`.
    """
    if definition is None:
        return partial(batched, renders=renders)

    def resolve(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        lookup = definition(*args, **kwargs)
        return lookup.one(self) if type(lookup) is Lookup else lookup

    def level(parents: list[Any], /, *args: Any, **kwargs: Any) -> Any:
        lookup = definition(*args, **kwargs)
        return lookup.many(parents) if type(lookup) is Lookup else [lookup] * len(parents)

    def rendering(selection: tuple[Selected, ...]) -> Rendering | None:
        assert renders is not None
        found = renders(selection)
        if found is None:
            return None
        keys, spec = found

        def rendered(parents: list[Any], /, *args: Any, **kwargs: Any) -> Any:
            lookup = definition(*args, **kwargs)
            if type(lookup) is not Lookup or lookup.render is None:
                raise RuntimeError(f"{definition.__qualname__} gave no Lookup that renders")
            return lookup.render(spec).many(parents)

        return Rendering(rendered, keys)

    signature = inspect.signature(definition)
    itself = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    resolve.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[itself, *signature.parameters.values()],
        return_annotation=inspect.Signature.empty,
    )
    for name in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(resolve, name, getattr(definition, name))
    resolve.__annotations__ = {
        name: note for name, note in definition.__annotations__.items() if name != "return"
    }
    mark_level_form(resolve, level, None if renders is None else rendering)
    return resolve
