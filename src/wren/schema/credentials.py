"""The schema extension that refuses a request whose credentials are bad."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult, GraphQLError
from strawberry.extensions import SchemaExtension

from wren.errors import Unauthenticated


class RejectInvalidCredentials(SchemaExtension):
    """Answer UNAUTHENTICATED, running nothing, when the request's token is bad.

    A stale token must not quietly turn into an anonymous request: the client would
    see its writes refused, or its feed empty, without learning that it must log in.
    """

    def on_execute(self) -> Iterator[None]:
        """Short-circuit execution with the credentials' error, if there is one."""
        error: Unauthenticated | None = getattr(self.execution_context.context, "auth_error", None)
        if error is not None:
            self.execution_context.result = ExecutionResult(
                data=None, errors=[GraphQLError(error.message, extensions=error.extensions)]
            )
        yield
