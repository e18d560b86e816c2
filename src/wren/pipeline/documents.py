"""Parsed and validated documents, cached by their text: a repeated query skips both steps."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.utilities import get_operation_ast

from wren.cache.tags import TagPlan, compile_tags
from wren.pipeline.arguments import ArgumentPlan, compile_arguments
from wren.pipeline.cache_control import CachePolicy, compile_policy
from wren.pipeline.cost import CostPlan, compile_cost
from wren.pipeline.limits import TOO_MANY_TOKENS, check_fields, limit_rules

if TYPE_CHECKING:
    from graphql import ASTValidationRule, GraphQLSchema

    from wren.observability import Telemetry
    from wren.settings import Settings

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@dataclass(slots=True)
class Document:
    """One request document and what is known about it so far."""

    node: DocumentNode | None
    syntax_error: GraphQLError | None = None
    validation_errors: list[GraphQLError] | None = None
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    cost_plans: dict[str | None, CostPlan] = field(default_factory=dict)
    argument_plans: dict[str | None, ArgumentPlan] = field(default_factory=dict)
    cache_policies: dict[str | None, CachePolicy] = field(default_factory=dict)
    tag_plans: dict[str | None, TagPlan] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation a request selects; None when missing or ambiguous."""
        return None if self.node is None else get_operation_ast(self.node, name)


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error


class Documents:
    """The per-process cache of documents, and the rules they are validated with."""

    def __init__(
        self, schema: GraphQLSchema, settings: Settings, telemetry: Telemetry | None = None
    ) -> None:
        self.schema = schema
        self.telemetry = telemetry if telemetry is not None and telemetry.tracer else None
        self.hits = 0
        self.misses = 0
        self.max_tokens = settings.max_tokens
        self.max_fields = settings.max_fields
        self.hide_suggestions = not settings.suggestions_enabled
        rules: list[type[ASTValidationRule]] = [*specified_rules, *limit_rules(settings)]
        if not settings.introspection_enabled:
            rules.append(NoSchemaIntrospectionCustomRule)
        self.rules = rules
        self.size = settings.document_cache_size
        self._cache: OrderedDict[str, Document] = OrderedDict()

    def get(self, text: str) -> Document:
        """The parsed document of this text (a syntax error is kept, not raised)."""
        cached = self._cache.get(text)
        if cached is not None:
            self.hits += 1
            self._cache.move_to_end(text)
            return cached
        self.misses += 1
        with self._span("graphql.parse"):
            document = self._parse(text)
        if self.size:
            self._cache[text] = document
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return document

    def _span(self, name: str) -> contextlib.AbstractContextManager[object]:
        """A span of a step the cache did not spare, when the request is traced."""
        span = None if self.telemetry is None else self.telemetry.span(name)
        return contextlib.nullcontext() if span is None else span

    def _parse(self, text: str) -> Document:
        try:
            node = parse(text, max_tokens=self.max_tokens)
        except GraphQLError as error:
            code = TOO_MANY_TOKENS if "Document contains more than" in error.message else None
            return Document(None, syntax_error=_with_code(error, code or PARSE_FAILED))
        fragments = {
            definition.name.value: definition
            for definition in node.definitions
            if isinstance(definition, FragmentDefinitionNode)
        }
        return Document(node, fragments=fragments)

    def validate(self, document: Document) -> list[GraphQLError]:
        """The validation errors of a parsed document (limits included), computed once.

        The fields an operation expands to are counted first: validation walks the
        expanded operation, so one that expands too far is refused before it starts.
        """
        if document.validation_errors is None:
            assert document.node is not None
            with self._span("graphql.validate"):
                errors = check_fields(document.node, self.max_fields) or validate(
                    self.schema, document.node, self.rules, hide_suggestions=self.hide_suggestions
                )
            document.validation_errors = [_with_code(e, VALIDATION_FAILED) for e in errors]
        return document.validation_errors

    def cost_plan(self, document: Document, operation: OperationDefinitionNode) -> CostPlan:
        """The cost plan of a validated document's operation, compiled once."""
        key = operation.name.value if operation.name else None
        plan = document.cost_plans.get(key)
        if plan is None:
            plan = compile_cost(self.schema, operation, document.fragments)
            document.cost_plans[key] = plan
        return plan

    def argument_plan(self, document: Document, operation: OperationDefinitionNode) -> ArgumentPlan:
        """The argument checks of a validated document's operation, compiled once."""
        key = operation.name.value if operation.name else None
        plan = document.argument_plans.get(key)
        if plan is None:
            plan = compile_arguments(self.schema, operation, document.fragments)
            document.argument_plans[key] = plan
        return plan

    def cache_policy(self, document: Document, operation: OperationDefinitionNode) -> CachePolicy:
        """The HTTP cache policy of a validated document's operation, computed once."""
        key = operation.name.value if operation.name else None
        policy = document.cache_policies.get(key)
        if policy is None:
            policy = compile_policy(self.schema, operation, document.fragments)
            document.cache_policies[key] = policy
        return policy

    def tag_plan(self, document: Document, operation: OperationDefinitionNode) -> TagPlan:
        """How the response cache tags a validated query's answers, compiled once."""
        key = operation.name.value if operation.name else None
        plan = document.tag_plans.get(key)
        if plan is None:
            assert document.node is not None
            plan = compile_tags(self.schema, document.node, operation)
            document.tag_plans[key] = plan
        return plan
