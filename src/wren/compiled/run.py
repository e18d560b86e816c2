"""Running a plan breadth-first: one resolver pass per field per level.

Errors are the runner's own to report, as the specification says: a field error is
located at its path and the field becomes null; a null in a non-null position (the
error's, or one that propagated) makes the nearest nullable parent null, up to `data`.
Errors under a position that is already null are dropped (one error per propagation,
as graphql-core collects them). Paths are built only for errors: a level maps an
object's index to its parent's when, and only when, one of its objects failed.
"""

from __future__ import annotations

import asyncio
from asyncio import isfuture
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from types import CoroutineType
from typing import Any

from graphql import GraphQLError, located_error
from graphql.execution import VariableValues

from wren.compiled.plan import ATTRIBUTE, LEVEL, RESOLVER, TYPENAME, FieldPlan, Level

# What resolvers hand back to be awaited: loader futures (and tasks), coroutines.
_AWAITABLE = (asyncio.Future, CoroutineType)

Path = list[str | int]
PathOf = Callable[[int], Path]


class Failed:
    """A field's value that is an error instead (raised, or from its awaitable)."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


class _Null:
    """An object made null because a non-null field of it failed (its error is reported)."""

    __slots__ = ()


NULLED = _Null()


@dataclass(slots=True)
class ResolveInfo:
    """What resolvers read from `info` on the fast path: the context, nothing else.

    graphql-core's per-field info object is what the fast path saves; a resolver that
    reads more of it (`selected_fields`, `path`) fails here, loudly, with its path.
    """

    context: Any


async def _gather(awaitables: list[Any]) -> tuple[list[Any], bool]:
    """Await all: their values, failures as `Failed`, and whether any failed.

    Resolvers mostly return loader futures that complete together when their batch
    does: awaiting them one by one suspends once, then finds the rest done. That costs
    far less than asyncio.gather's wrapper and callback per awaitable. Coroutines become
    tasks first, so that they all run (and batch) concurrently; a lone coroutine (a root
    field such as `userByHandle`) has nothing to run beside, and is awaited in place: a
    task would cost its creation and a turn of the event loop.
    """
    if len(awaitables) == 1:
        futures = awaitables
    else:
        futures = [v if isfuture(v) else asyncio.ensure_future(v) for v in awaitables]
    done: list[Any] = []
    failed = False
    for future in futures:
        try:
            done.append(await future)
        except asyncio.CancelledError as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # this request is being cancelled
                for other in futures:
                    if isfuture(other):
                        other.cancel()
                raise
            done.append(Failed(RuntimeError(f"cancelled: {error}")))  # only that one was
            failed = True
        except Exception as error:
            done.append(Failed(error))
            failed = True
    return done, failed


def _null_message(plan: FieldPlan) -> str:
    return f"Cannot return null for non-nullable field {plan.parent}.{plan.name}."


class Runner:
    """One execution of a plan: the request's context and variables, and its errors."""

    def __init__(self, info: ResolveInfo, variables: VariableValues) -> None:
        self.info = info
        self.variables = variables
        self.errors: list[GraphQLError] = []
        self._nulled: list[tuple[str | int, ...]] = []
        self.marks = 0  # NULLED values made so far
        self.failures = 0  # resolvers that raised so far

    def error(self, plan: FieldPlan, raw: Exception, path: Path) -> None:
        """Report a field error at `path`, unless a position above it is already null."""
        key = tuple(path)
        for nulled in self._nulled:
            if key[: len(nulled)] == nulled:
                return
        self.errors.append(located_error(raw, None if plan.node is None else [plan.node], path))

    def null(self) -> _Null:
        """A null in a non-null position whose error is reported (counted, see objects)."""
        self.marks += 1
        return NULLED

    def nulled(self, path: Path, cause: Path) -> None:
        """`path` became null because `cause` (below it) is null in a non-null position:
        of the errors below `path`, only the first one at or below `cause` is kept (the
        one that propagated, as graphql-core reports it), and later ones are dropped."""
        key, kept = tuple(path), tuple(cause)
        below = [n for n, e in enumerate(self.errors) if tuple(e.path or ())[: len(key)] == key]
        causes = [n for n in below if tuple(self.errors[n].path or ())[: len(kept)] == kept]
        for n in reversed(below):
            if not causes or n != causes[0]:
                del self.errors[n]
        self._nulled.append(key)

    def resolve(self, plan: FieldPlan, objects: list[Any]) -> Any:
        """This field's raw value for every object (awaitables left for the caller): a
        list, or for a level form the value or awaitable of one. A resolver that raises
        gives `Failed` for its object; a level form that raises, for every object."""
        if plan.kind == ATTRIBUTE:
            return list(map(attrgetter(plan.attribute), objects))
        if plan.kind == TYPENAME:
            return [plan.constant] * len(objects)
        assert plan.function is not None
        assert plan.arguments is not None
        function = plan.function
        try:
            kwargs = plan.arguments(self.variables)
            if plan.info_name is not None:
                kwargs[plan.info_name] = self.info
            if plan.kind == LEVEL:
                return function(objects, **kwargs) if objects else []
        except Exception as error:
            self.failures += 1
            return [Failed(error)] * len(objects)
        out: list[Any] = []
        append = out.append
        if plan.passes_self:
            for o in objects:
                try:
                    append(function(o, **kwargs))
                except Exception as error:
                    self.failures += 1
                    append(Failed(error))
        else:
            for _ in objects:
                try:
                    append(function(**kwargs))
                except Exception as error:
                    self.failures += 1
                    append(Failed(error))
        return out

    async def objects(
        self, plans: list[FieldPlan], objects: list[Any], path_of: PathOf
    ) -> list[Any]:
        """Complete the selection `plans` on every object of one level: a dict per object,
        or NULLED for one that a failed non-null field made null."""
        marks, failures = self.marks, self.failures
        level = plans if isinstance(plans, Level) else Level(plans)
        columns = [self.resolve(plan, objects) for plan in plans]
        # Only resolvers return awaitables (per object; level forms per column),
        # attributes and __typename never do. Index -1 stands for a whole column.
        waiting = [
            (c, i, value)
            for c in level.resolvers
            for i, value in enumerate(columns[c])
            if isinstance(value, _AWAITABLE)
        ]
        levels = level.levels
        if levels:
            waiting += [(c, -1, columns[c]) for c in levels if isinstance(columns[c], _AWAITABLE)]
        failed = self.failures != failures  # a resolver raised
        if waiting:
            done, waited_failed = await _gather([value for _, _, value in waiting])
            failed = failed or waited_failed
            for (c, i, _), value in zip(waiting, done, strict=True):
                if i < 0:
                    columns[c] = [value] * len(objects) if isinstance(value, Failed) else value
                else:
                    columns[c][i] = value
        for c in levels:
            column = columns[c]
            if not isinstance(column, list) or len(column) != len(objects):
                count = len(column) if isinstance(column, list) else type(column).__name__
                broken = RuntimeError(
                    f"the level form of {plans[c].parent}.{plans[c].name} returned "
                    f"{count} values for {len(objects)} objects"
                )
                columns[c] = [Failed(broken)] * len(objects)
                failed = True
        if failed:
            self._fail(plans, columns, path_of)
        children = level.nested
        if children:
            nested = [self.nested(plan, columns[c], path_of) for c, plan in children]
            completed = await asyncio.gather(*nested) if len(nested) > 1 else [await nested[0]]
            for (c, _), column in zip(children, completed, strict=True):
                columns[c] = column
        for c, plan, unchanged in level.leaves:
            # Usually every value already has the exact Python type: the column as it is.
            if unchanged is None or not unchanged.issuperset(map(type, columns[c])):
                columns[c] = self.leaves(plan, columns[c], path_of)
        if self.marks == marks:  # no null in a non-null position on this level
            keys = level.keys
            if len(keys) == 1:  # `author { handle }`: one key per object
                key = keys[0]
                return [{key: value} for value in columns[0]]
            return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]
        return self._rows(plans, columns, path_of)

    def _rows(self, plans: list[FieldPlan], columns: list[Any], path_of: PathOf) -> list[Any]:
        """The objects of a level some values of which are null by propagation."""
        keys = [plan.key for plan in plans]
        rows: list[Any] = []
        for i, values in enumerate(zip(*columns, strict=True)):
            row: dict[str, Any] = {}
            cause: str | None = None
            for plan, key, value in zip(plans, keys, values, strict=True):
                if value is NULLED:
                    if cause is None and not plan.nullable:
                        cause = key
                    value = None
                row[key] = value
            if cause is not None:
                path = path_of(i)
                self.nulled(path, [*path, cause])
                rows.append(self.null())
            else:
                rows.append(row)
        return rows

    def _fail(self, plans: list[FieldPlan], columns: list[Any], path_of: PathOf) -> None:
        """Report the failed values of a level; each becomes null (NULLED: reported)."""
        for c, plan in enumerate(plans):
            if plan.kind not in (RESOLVER, LEVEL):
                continue
            column = columns[c]
            for i, value in enumerate(column):
                if type(value) is Failed:
                    self.error(plan, value.error, [*path_of(i), plan.key])
                    column[i] = self.null()

    def leaves(self, plan: FieldPlan, values: list[Any], path_of: PathOf) -> list[Any]:
        serialize = plan.serialize
        assert serialize is not None
        out: list[Any] = []
        for i, value in enumerate(values):
            if value is NULLED:
                out.append(value)
                continue
            try:
                out.append(self._leaf(plan, value, serialize))
            except _NullItem as null:
                path = [*path_of(i), plan.key, null.at]
                self.error(plan, GraphQLError(_null_message(plan)), path)
                out.append(self.null())
            except Exception as error:
                self.error(plan, error, [*path_of(i), plan.key])
                out.append(self.null())
        return out

    def _leaf(self, plan: FieldPlan, value: Any, serialize: Callable[[Any], Any]) -> Any:
        if value is None:
            if not plan.nullable:
                raise GraphQLError(_null_message(plan))
            return None
        if not plan.is_list:
            return serialize(value)
        items: list[Any] = []
        for j, item in enumerate(value):
            if item is None:
                if not plan.items_nullable:
                    raise _NullItem(j)
                items.append(None)
            else:
                items.append(serialize(item))
        return items

    async def nested(self, plan: FieldPlan, values: list[Any], path_of: PathOf) -> list[Any]:
        """Complete an object-typed field for every parent at once."""
        assert plan.children is not None
        flat: list[Any] = []
        append = flat.append
        null = False  # a null value or item: only then is the slow assembly needed
        if plan.is_list:
            for value in values:
                if value is None or value is NULLED:
                    null = True
                    continue
                for item in value:
                    if item is None:
                        null = True
                    else:
                        append(item)
        else:
            for value in values:
                if value is None or value is NULLED:
                    null = True
                else:
                    append(value)
        owners: list[tuple[int, int]] = []

        def child_path(k: int) -> Path:
            # Only for errors: which parent (and list index) flat item k came from.
            if not owners:
                owners.extend(_owners(values, plan.is_list))
            i, j = owners[k]
            return [*path_of(i), plan.key] if j < 0 else [*path_of(i), plan.key, j]

        marks = self.marks
        completed = await self.objects(plan.children, flat, child_path)
        if not null and self.marks == marks:  # nothing null: children line up one to one
            if not plan.is_list:
                return completed
            done = iter(completed)
            return [[next(done) for _ in value] for value in values]
        return self._assemble(plan, values, iter(completed), path_of)

    def _assemble(
        self, plan: FieldPlan, values: list[Any], done: Any, path_of: PathOf
    ) -> list[Any]:
        """The field's values from its completed children, nulls placed and propagated."""
        out: list[Any] = []
        for i, value in enumerate(values):
            if value is NULLED:
                out.append(value)
            elif value is None:
                if plan.nullable:
                    out.append(None)
                else:
                    self.error(plan, GraphQLError(_null_message(plan)), [*path_of(i), plan.key])
                    out.append(self.null())
            elif not plan.is_list:
                out.append(next(done))
            else:
                out.append(self._items(plan, value, done, [*path_of(i), plan.key]))
        return out

    def _items(self, plan: FieldPlan, value: Any, done: Any, path: Path) -> Any:
        """One list of completed objects, or NULLED when a non-null item of it is null."""
        items: list[Any] = []
        broken: int | None = None  # the first null item in a non-null position
        for j, item in enumerate(value):
            if item is None:
                if not plan.items_nullable:
                    self.error(plan, GraphQLError(_null_message(plan)), [*path, j])
                    broken = j if broken is None else broken
                items.append(None)
                continue
            child = next(done)
            if child is NULLED:
                if not plan.items_nullable and broken is None:
                    broken = j
                child = None
            items.append(child)
        if broken is not None:
            self.nulled(path, [*path, broken])
            return self.null()
        return items


def _owners(values: list[Any], is_list: bool) -> list[tuple[int, int]]:
    """(parent index, list index or -1) of each non-null item, in flattening order."""
    if not is_list:
        return [(i, -1) for i, v in enumerate(values) if v is not None and v is not NULLED]
    return [
        (i, j)
        for i, v in enumerate(values)
        if v is not None and v is not NULLED
        for j, item in enumerate(v)
        if item is not None
    ]


class _NullItem(Exception):
    """A null item in a list of non-null leaves, at index `at`."""

    def __init__(self, at: int) -> None:
        super().__init__(at)
        self.at = at
