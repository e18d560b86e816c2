"""Running a plan breadth-first: one resolver pass per field per level."""

from __future__ import annotations

import asyncio
from asyncio import isfuture
from dataclasses import dataclass
from operator import attrgetter
from types import CoroutineType
from typing import Any

from graphql.execution.values import VariableValues

from wren.compiled.plan import ATTRIBUTE, LEVEL, RESOLVER, TYPENAME, FieldPlan

# What resolvers hand back to be awaited: loader futures (and tasks), coroutines.
_AWAITABLE = (asyncio.Future, CoroutineType)


class Abandon(Exception):
    """Something unexpected happened while running: let graphql-core answer instead."""


@dataclass(slots=True)
class ResolveInfo:
    """What resolvers read from `info` (the context) without graphql-core's per-field object."""

    context: Any


async def _gather(awaitables: list[Any]) -> list[Any]:
    """Await all; any failure abandons the fast path, after every awaitable has finished.

    Resolvers mostly return loader futures that complete together when their batch
    does: awaiting them one by one suspends once, then finds the rest done. That costs
    far less than asyncio.gather's wrapper and callback per awaitable. Coroutines become
    tasks first, so that they all run (and batch) concurrently.
    """
    futures = [value if isfuture(value) else asyncio.ensure_future(value) for value in awaitables]
    done: list[Any] = []
    failure: BaseException | None = None
    for future in futures:
        try:
            done.append(await future)
        except asyncio.CancelledError as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # this request is being cancelled
                for other in futures:
                    other.cancel()
                raise
            failure = failure or error  # only that awaitable was
            done.append(None)
        except Exception as error:
            failure = failure or error
            done.append(None)
    if failure is not None:
        raise Abandon from failure
    return done


class Runner:
    """One execution of a plan: the request's context and variables."""

    def __init__(self, info: ResolveInfo, variables: VariableValues) -> None:
        self.info = info
        self.variables = variables

    def resolve(self, plan: FieldPlan, objects: list[Any]) -> Any:
        """This field's raw value for every object (awaitables left for the caller): a
        list, or for a level form the awaitable of one."""
        if plan.kind == ATTRIBUTE:
            return list(map(attrgetter(plan.attribute), objects))
        if plan.kind == TYPENAME:
            return [plan.constant] * len(objects)
        assert plan.function is not None
        assert plan.arguments is not None
        kwargs = plan.arguments(self.variables)
        if plan.info_name is not None:
            kwargs[plan.info_name] = self.info
        function = plan.function
        if plan.kind == LEVEL:
            return function(objects, **kwargs) if objects else []
        if plan.passes_self:
            return [function(o, **kwargs) for o in objects]
        return [function(**kwargs) for _ in objects]

    async def objects(self, plans: list[FieldPlan], objects: list[Any]) -> list[dict[str, Any]]:
        """Complete the selection `plans` on every object of one level."""
        columns = [self.resolve(plan, objects) for plan in plans]
        # Only resolvers return awaitables (per object; level forms per column),
        # attributes and __typename never do. Index -1 stands for a whole column.
        waiting = [
            (c, i, value)
            for c, column in enumerate(columns)
            if plans[c].kind == RESOLVER
            for i, value in enumerate(column)
            if isinstance(value, _AWAITABLE)
        ]
        levels = [c for c, plan in enumerate(plans) if plan.kind == LEVEL]
        waiting += [(c, -1, columns[c]) for c in levels if isinstance(columns[c], _AWAITABLE)]
        if waiting:
            done = await _gather([value for _, _, value in waiting])
            for (c, i, _), value in zip(waiting, done, strict=True):
                if i < 0:
                    columns[c] = value
                else:
                    columns[c][i] = value
        for c in levels:
            if not isinstance(columns[c], list) or len(columns[c]) != len(objects):
                raise Abandon  # a level form that broke its promise
        children = [(c, plan) for c, plan in enumerate(plans) if plan.children is not None]
        if children:
            completed = await _gather([self.nested(plans[c], columns[c]) for c, _ in children])
            for (c, _), column in zip(children, completed, strict=True):
                columns[c] = column
        for c, plan in enumerate(plans):
            if plan.serialize is not None:
                columns[c] = self.leaves(plan, columns[c])
        if len(plans) == 1:  # `author { handle }`: one key per object
            key = plans[0].key
            return [{key: value} for value in columns[0]]
        keys = [plan.key for plan in plans]
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]

    def leaves(self, plan: FieldPlan, values: list[Any]) -> list[Any]:
        serialize = plan.serialize
        assert serialize is not None
        if not plan.is_list and plan.exact is not None:
            # Usually every value already has the exact Python type: keep the column as is.
            types = set(map(type, values))
            if types <= ({plan.exact, type(None)} if plan.nullable else {plan.exact}):
                return values
        out: list[Any] = []
        for value in values:
            if value is None:
                if not plan.nullable:
                    raise Abandon
                out.append(None)
            elif plan.is_list:
                items: list[Any] = []
                for item in value:
                    if item is None:
                        if not plan.items_nullable:
                            raise Abandon
                        items.append(None)
                    else:
                        items.append(serialize(item))
                out.append(items)
            else:
                out.append(serialize(value))
        return out

    async def nested(self, plan: FieldPlan, values: list[Any]) -> list[Any]:
        """Complete an object-typed field for every parent at once."""
        assert plan.children is not None
        flat: list[Any] = []
        if plan.is_list:
            for value in values:
                if value is None:
                    if not plan.nullable:
                        raise Abandon
                    continue
                for item in value:
                    if item is None:
                        raise Abandon  # a null item: leave its semantics to graphql-core
                    flat.append(item)
        else:
            for value in values:
                if value is None:
                    if not plan.nullable:
                        raise Abandon
                else:
                    flat.append(value)
        done = iter(await self.objects(plan.children, flat))
        if plan.is_list:
            return [None if value is None else [next(done) for _ in value] for value in values]
        return [None if value is None else next(done) for value in values]
