"""Parsed and validated documents, cached by their text: a repeated query skips both steps."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

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

from wren.pipeline.limits import TOO_MANY_TOKENS, check_fields, limit_rules

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphql import ASTValidationRule, GraphQLSchema

    from wren.observability import Telemetry
    from wren.settings import Settings

    T = TypeVar("T")
    # What is compiled once per operation: compile_checks, compile_tags.
    Compile = Callable[
        [GraphQLSchema, OperationDefinitionNode, dict[str, FragmentDefinitionNode]], T
    ]

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"


@dataclass(slots=True)
class Document:
    """One request document and what is known about it so far."""

    node: DocumentNode | None
    syntax_error: GraphQLError | None = None
    validation_errors: list[GraphQLError] | None = None
    fragments: dict[str, FragmentDefinitionNode] = field(default_factory=dict)
    # What each compile function makes of each operation (checks, response cache tags).
    compiled: dict[tuple[Compile[object], str | None], object] = field(default_factory=dict)
    # The operations requests selected by name (only those found: names are the client's).
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation a request selects; None when missing or ambiguous."""
        found = self.operations.get(name)
        if found is None and self.node is not None:
            found = get_operation_ast(self.node, name)
            if found is not None:
                self.operations[name] = found
        return found


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

    def compiled(
        self, document: Document, operation: OperationDefinitionNode, compile: Compile[T]
    ) -> T:
        """What `compile` makes of a validated document's operation, computed once."""
        key = (compile, operation.name.value if operation.name else None)
        value = document.compiled.get(key)
        if value is None:
            value = compile(self.schema, operation, document.fragments)
            document.compiled[key] = value
        return cast("T", value)
