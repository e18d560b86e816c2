"""A compiled fast path for queries: one resolver pass per field per level, not per object.

graphql-core completes every field of every object on its own (argument coercion, an
info object, type checks, a coroutine per list item): for a Directory page of 1,500
objects that costs far more than the SQL. A query document is compiled once into a plan
(which resolver or attribute serves each response key, how leaves serialize), then
executed breadth-first: a field's arguments are evaluated once for all the objects of a
level, plain attributes are read in a list comprehension, and every resolver coroutine of
a level is gathered together, so DataLoaders still batch each level into one statement.
A resolver with a level form (level.py) is called once per level instead of per object.

The plan covers what the hot operations use: object types, scalar arguments, fragments on
the concrete type, `__typename`. Anything else (abstract types, directives, input objects,
introspection) is not compiled, and any surprise while running (a resolver error, a null
where the schema forbids one) abandons the fast path: graphql-core then executes the whole
operation and reports errors exactly as the specification says. Only queries take this
path, so running the operation twice never repeats a side effect.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from graphql import DocumentNode, GraphQLSchema
from graphql.execution.values import get_variable_values

from wren.compiled.plan import Plan, compile_plan
from wren.compiled.run import ResolveInfo, Runner

__all__ = ["CompiledQueries", "Plan"]


class CompiledQueries:
    """Plans per (document, operation), and the breadth-first runner."""

    def __init__(self, schema: GraphQLSchema, size: int = 1000) -> None:
        self.schema = schema
        self.size = size
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan | None]] = (
            OrderedDict()
        )

    def plan(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        """The plan of a query operation, or None when the fast path does not apply."""
        key = (id(document), operation_name)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is document:
            return cached[1]
        plan = compile_plan(self.schema, document, operation_name)
        self._plans[key] = (document, plan)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan

    async def run(
        self, plan: Plan, context: Any, raw_variables: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The `data` of the operation, or None: graphql-core must execute it instead."""
        variables = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), raw_variables or {}
        )
        if isinstance(variables, list):  # invalid variables: graphql-core reports them
            return None
        try:
            [data] = await Runner(ResolveInfo(context), variables).objects(plan.fields, [None])
        except Exception:  # any failure is graphql-core's to report, with its path
            return None
        return data
