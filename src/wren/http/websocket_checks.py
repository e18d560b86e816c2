"""The checks an operation sent over WebSocket passes before it runs, as over HTTP.

Parsing (with the token limit), validation (with the depth, alias and directive limits,
and without introspection where it is off), the cost limit and, in trusted mode, the
registered documents: the same rules and the same per-process document cache as the
HTTP endpoint. Only subscriptions are served over WebSocket; queries and mutations go
to POST /graphql, where the rest of the HTTP layer applies.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from graphql import GraphQLError, OperationType
from strawberry.extensions import SchemaExtension

from wren.http.cost import QUERY_TOO_COSTLY
from wren.http.errors import limit_error
from wren.http.persisted import NOT_FOUND, PersistedDocuments, sha256_hex

if TYPE_CHECKING:
    from wren.http.documents import Document, Documents
    from wren.settings import Settings

SUBSCRIPTIONS_ONLY = (
    "Only subscriptions are served over WebSocket; send queries and mutations with POST /graphql."
)


class WebSocketChecks:
    """What the checks share for the lifetime of the app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.persisted = PersistedDocuments(settings)
        self._documents: Documents | None = None

    def bind(self, documents: Documents) -> None:
        """The document cache, over the schema these checks are an extension of."""
        self._documents = documents

    @property
    def documents(self) -> Documents:
        """The document cache (bound once the schema is built)."""
        assert self._documents is not None, "bind() the checks to their schema first"
        return self._documents

    def extension(self) -> CheckOperation:
        """A fresh extension instance, as Strawberry builds one per operation."""
        return CheckOperation(self)


class CheckOperation(SchemaExtension):
    """Parse from the document cache, then validate with the HTTP endpoint's rules."""

    def __init__(self, checks: WebSocketChecks) -> None:
        self.checks = checks
        self.document: Document | None = None

    def on_parse(self) -> Iterator[None]:
        """Hand Strawberry the cached parse; a syntax error is left for it to report."""
        context = self.execution_context
        if context.query is not None:
            document = self.checks.documents.get(context.query)
            if document.node is not None:
                self.document = document
                context.graphql_document = document.node
            else:
                # Strawberry parses again and closes the socket with the syntax error.
                context.parse_options = {
                    **context.parse_options,
                    "max_tokens": self.checks.settings.max_tokens,
                }
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        """Report the errors before Strawberry's own validation (then skipped)."""
        context = self.execution_context
        if self.document is not None:
            context.pre_execution_errors = await self._errors(self.document)
        yield

    async def _errors(self, document: Document) -> list[GraphQLError]:
        checks = self.checks
        if checks.settings.trusted_documents:
            assert self.execution_context.query is not None
            digest = sha256_hex(self.execution_context.query)
            redis = self.execution_context.context.cache.store.redis
            if await checks.persisted.lookup(redis, digest) is None:
                return [GraphQLError("PersistedQueryNotFound", extensions={"code": NOT_FOUND})]
        errors = checks.documents.validate(document)
        if errors:
            return errors
        operation = document.operation(self.execution_context.operation_name)
        if operation is None:
            return []  # Strawberry names the missing or ambiguous operation itself.
        if operation.operation is not OperationType.SUBSCRIPTION:
            return [GraphQLError(SUBSCRIPTIONS_ONLY, extensions={"code": "BAD_REQUEST"})]
        cost = checks.documents.cost_plan(document, operation).evaluate(
            self.execution_context.variables
        )
        limit = checks.settings.max_cost
        if cost is None or cost > limit:
            return [
                limit_error(
                    f"The operation's estimated cost exceeds the limit of {limit}.",
                    QUERY_TOO_COSTLY,
                    cost=cost,
                    limit=limit,
                )
            ]
        return []
