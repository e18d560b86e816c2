"""Execution: the compiled fast path or graphql-core, inside the schema's extensions.

Parsing and validation are the pipeline's (cached per document), so extensions' `on_parse`
and `on_validate` hooks do not run; `on_operation`, `on_execute`, `resolve` and
`get_results` do, as under Strawberry's own `Schema.execute`. Masking is the pipeline's,
after execution, with a request id.

The fast path's boundary is decided here, once per document, before anything runs: a
plan is used only when no extension wraps resolvers (`resolve`), and the plan itself
refuses fields with permission classes or field extensions (compiled/plan.py). Whatever
a plan does not cover is executed by graphql-core from the start, logged once per
document and counted; a plan that runs reports its own errors and is never executed a
second time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, OperationType, execute
from graphql import subscribe as core_subscribe
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType

from wren import _compat
from wren.compiled import CompiledQueries, Plan

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import strawberry
    from graphql import DocumentNode, GraphQLError, OperationDefinitionNode
    from graphql.execution import VariableValues
    from strawberry.extensions import SchemaExtension

log = logging.getLogger("wren.pipeline")


@dataclass(slots=True)
class Outcome:
    """What an execution produced, and what the extensions add to `extensions`."""

    data: dict[str, Any] | None
    errors: list[GraphQLError] | None
    extensions: dict[str, Any] = field(default_factory=dict)


class Executor:
    """Runs validated operations against a Strawberry schema."""

    def __init__(
        self, schema: strawberry.Schema, *, compiled: bool, hide_suggestions: bool
    ) -> None:
        self.strawberry = schema
        self.schema = _compat.core_schema(schema)
        self.executor_class = schema.execution_context_class
        self.hide_suggestions = hide_suggestions
        extensions = schema.get_extensions()
        self.has_extensions = bool(extensions)
        wraps_resolvers = [type(e).__name__ for e in extensions if _compat.implements_resolve(e)]
        if compiled and wraps_resolvers:
            log.info(
                "the compiled fast path is off: %s wrap every resolver", ", ".join(wraps_resolvers)
            )
        self.fallbacks = 0  # documents the fast path refused
        self.compiled = (
            CompiledQueries(self.schema, on_refusal=self._refused)
            if compiled and not wraps_resolvers
            else None
        )

    def _refused(self, operation_name: str | None, reason: str) -> None:
        self.fallbacks += 1
        log.info("query %s runs on graphql-core: %s", operation_name or "(anonymous)", reason)

    def _plan(self, document: DocumentNode, operation: OperationDefinitionNode) -> Plan | None:
        if self.compiled is None or operation.operation is not OperationType.QUERY:
            return None
        return self.compiled.plan(document, operation.name.value if operation.name else None)

    async def _core(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Any,
        raw_variables: dict[str, Any] | None,
        variables: VariableValues,
        extensions: list[SchemaExtension] | None = None,
    ) -> ExecutionResult:
        plan = self._plan(document, operation)
        if plan is not None:
            assert self.compiled is not None
            data, errors = await self.compiled.run(plan, context, variables)
            return ExecutionResult(data=data, errors=errors or None)
        # The extensions' `resolve` hooks, for graphql-core (a plan runs only without any).
        middleware = _compat.middleware(self.strawberry, extensions) if extensions else None
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=raw_variables,
            operation_name=operation.name.value if operation.name else None,
            middleware=middleware,
            executor_class=self.executor_class,
            is_awaitable=_compat.is_awaitable,  # type: ignore[arg-type]
            hide_suggestions=self.hide_suggestions,
        )
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        return result

    def _execution(
        self, text: str, document: DocumentNode, operation: OperationDefinitionNode, context: Any,
        variables: dict[str, Any] | None,
    ) -> tuple[ExecutionContext, list[SchemaExtension]]:  # fmt: skip
        execution = ExecutionContext(
            query=text,
            schema=self.strawberry,
            allowed_operations=(StrawberryOperationType(operation.operation.value),),
            context=context,
            variables=variables,
            provided_operation_name=operation.name.value if operation.name else None,
        )
        execution.graphql_document = document
        # Fresh extension instances: Strawberry builds them per request too.
        extensions = self.strawberry.get_extensions()
        for extension in extensions:
            extension.execution_context = execution
        return execution, extensions

    async def run(
        self,
        text: str,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Any,
        raw_variables: dict[str, Any] | None,
        variables: VariableValues,
    ) -> Outcome:
        """Execute one query or mutation of a validated document (variables coerced)."""
        if not self.has_extensions:
            plan = self._plan(document, operation)
            if plan is not None:  # the fast path, a coroutine less
                assert self.compiled is not None
                data, errors = await self.compiled.run(plan, context, variables)
                return Outcome(data, errors or None)
            result = await self._core(document, operation, context, raw_variables, variables)
            return Outcome(result.data, result.errors)
        execution, extensions = self._execution(text, document, operation, context, raw_variables)
        runner = _compat.extensions_runner(execution, extensions)
        async with runner.operation(), runner.executing():
            if not execution.result:
                execution.result = await self._core(
                    document,
                    operation,
                    context,
                    raw_variables,
                    variables,
                    extensions,
                )
        added = await runner.get_extensions_results(execution)
        final: Any = execution.result  # graphql-core's, or Strawberry's if an extension set it
        return Outcome(final.data, final.errors, added)

    async def subscribe(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Any,
        raw_variables: dict[str, Any] | None,
    ) -> AsyncIterator[ExecutionResult] | ExecutionResult:
        """The event stream of a subscription, or the result that refused to start it."""
        result = core_subscribe(
            self.schema,
            document,
            context_value=context,
            variable_values=raw_variables,
            operation_name=operation.name.value if operation.name else None,
        )
        if isawaitable(result):
            result = await result
        return result
