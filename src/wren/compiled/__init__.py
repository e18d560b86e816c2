"""A compiled fast path for queries: one resolver pass per field per level, not per object.

graphql-core completes every field of every object on its own (argument coercion, an
info object, type checks, a coroutine per list item): for a Directory page of 1,500
objects that costs far more than the SQL. A query document is compiled once into a plan
(which resolver or attribute serves each response key, how leaves serialize), then
executed breadth-first: a field's arguments are evaluated once for all the objects of a
level, plain attributes are read in a list comprehension, and every resolver coroutine of
a level is gathered together, so DataLoaders still batch each level into one statement.
A resolver with a level form (wren.level_form; schema/levels.py derives both forms of a
batched field) is called once per level instead of per object.

The plan covers what the hot operations use: object types, scalar arguments, fragments on
the concrete type, `__typename`. Anything else (abstract types, directives, input objects,
introspection, fields with permission classes or field extensions) is refused when the
plan is compiled, before anything runs: graphql-core then executes that document. A plan
that runs reports its own errors, located at their paths with nulls propagated as the
specification says (run.py), so an operation is never executed twice. Only queries are
compiled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from graphql.execution import VariableValues

from wren.compiled.plan import Plan, compile_plan
from wren.compiled.run import NULLED, ResolveInfo, Runner

__all__ = ["CompiledQueries", "Plan"]


class CompiledQueries:
    """Plans per (document, operation), and the breadth-first runner."""

    def __init__(
        self,
        schema: GraphQLSchema,
        size: int = 1000,
        on_refusal: Callable[[str | None, str], None] | None = None,
    ) -> None:
        self.schema = schema
        self.size = size
        # Told once per document the fast path refuses (operation name, reason).
        self.on_refusal = on_refusal
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan | None]] = (
            OrderedDict()
        )

    def plan(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        """The plan of a query operation, or None when the fast path does not apply."""
        key = (id(document), operation_name)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is document:
            return cached[1]
        compiled = compile_plan(self.schema, document, operation_name)
        plan = compiled if isinstance(compiled, Plan) else None
        if plan is None and self.on_refusal is not None:
            assert isinstance(compiled, str)
            self.on_refusal(operation_name, compiled)
        self._plans[key] = (document, plan)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan

    async def run(
        self, plan: Plan, context: Any, variables: VariableValues
    ) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
        """The operation's `data` and errors (its variables already coerced)."""
        runner = Runner(ResolveInfo(context), variables)
        [data] = await runner.objects(plan.fields, [None], _root)
        return None if data is NULLED else data, runner.errors


def _root(_: int) -> list[str | int]:
    """The path of the root object: empty."""
    return []
