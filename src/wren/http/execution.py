"""Execution on graphql-core, with the schema's Strawberry extensions around it.

Parsing and validation are the view's (cached per document), so extensions' `on_parse`
and `on_validate` hooks do not run; `on_operation`, `on_execute`, `resolve` and
`get_results` do, as under Strawberry's own `Schema.execute`. MaskErrors is left out:
the view masks errors itself, with a request id, after logging the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from graphql import ExecutionResult, execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import MaskErrors
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types.execution import ExecutionContext
from strawberry.types.graphql import OperationType as StrawberryOperationType

from wren.compiled import CompiledQueries

if TYPE_CHECKING:
    import strawberry
    from graphql import DocumentNode, GraphQLError, OperationType


@dataclass(slots=True)
class Outcome:
    """What an execution produced, and what the extensions add to `extensions`."""

    data: dict[str, Any] | None
    errors: list[GraphQLError] | None
    extensions: dict[str, Any] = field(default_factory=dict)


class Executor:
    """Runs validated documents against a Strawberry schema."""

    def __init__(self, schema: strawberry.Schema, *, hide_suggestions: bool) -> None:
        self.strawberry = schema
        self.schema = schema._schema
        self.executor_class = schema.execution_context_class
        self.hide_suggestions = hide_suggestions
        self.compiled = CompiledQueries(self.schema)
        # Without extensions (MaskErrors aside) there is nothing to run around execution.
        self.has_extensions = any(
            not isinstance(extension, MaskErrors) for extension in self._extensions()
        )

    def _extensions(self) -> list[Any]:
        """Fresh extension instances: Strawberry builds them per request too."""
        return [e for e in self.strawberry.get_extensions() if not isinstance(e, MaskErrors)]

    async def _core(
        self,
        document: DocumentNode,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        middleware: Any = None,
    ) -> Any:
        plan = self.compiled.plan(document, operation_name)
        if plan is not None:
            data = await self.compiled.run(plan, context, variables)
            if data is not None:
                return ExecutionResult(data=data)
        result = execute(
            self.schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            middleware=middleware,
            executor_class=self.executor_class,
            # Strawberry's faster check; typed as returning bool, it is a TypeGuard.
            is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            hide_suggestions=self.hide_suggestions,
        )
        if isawaitable(result):
            result = await result
        return result

    async def run(
        self,
        text: str,
        document: DocumentNode,
        operation_type: OperationType | None,
        context: Any,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> Outcome:
        """Execute one operation of a validated document."""
        if not self.has_extensions:
            result = await self._core(document, context, variables, operation_name)
            return Outcome(result.data, result.errors)
        execution = ExecutionContext(
            query=text,
            schema=self.strawberry,
            allowed_operations=()
            if operation_type is None
            else (StrawberryOperationType(operation_type.value),),
            context=context,
            variables=variables,
            provided_operation_name=operation_name,
        )
        execution.graphql_document = document
        extensions = self._extensions()
        for extension in extensions:
            extension.execution_context = execution
        runner = SchemaExtensionsRunner(execution_context=execution, extensions=extensions)
        async with runner.operation(), runner.executing():
            if not execution.result:
                execution.result = await self._core(
                    document,
                    context,
                    variables,
                    operation_name,
                    self.strawberry._get_middleware_manager(extensions),
                )
        added = await runner.get_extensions_results(execution)
        result = execution.result
        return Outcome(result.data, result.errors, added)
