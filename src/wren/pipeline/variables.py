"""Variable coercion, compiled once per document and operation.

graphql-core's `get_variable_values` resolves each definition's type from its AST, checks
its nesting and walks the coercion machinery on every request: 4 % of the CPU of a
UserByHandle (bench/results/http-path.md), to learn that `"user1"` is a String. The
signatures are resolved here once. A request whose every variable is a built-in scalar
(or null where the type allows it), given with exactly the Python type its scalar parses
to, is coerced by a type check per variable; anything else (a missing variable, a default,
an enum, an input object, a list, a custom scalar, a wrong type) goes through graphql-core
as before, so that coerced values and errors are graphql-core's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.execution import get_variable_values
from graphql.execution.get_variable_signature import (
    GraphQLVariableSignature,
    get_variable_signature,
)
from graphql.execution.values import VariableValues, VariableValueSource

if TYPE_CHECKING:
    from graphql import (
        FragmentDefinitionNode,
        GraphQLError,
        GraphQLSchema,
        OperationDefinitionNode,
    )

# graphql-core's limits for Int (32-bit signed).
_MAX_INT = 2**31 - 1
_MIN_INT = -(2**31)


def _int(value: Any) -> bool:
    return type(value) is int and _MIN_INT <= value <= _MAX_INT


def _float(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)


# Values each built-in scalar's `parse_value` returns unchanged.
_UNCHANGED = {
    GraphQLString.name: lambda value: type(value) is str,
    GraphQLID.name: lambda value: type(value) is str,
    GraphQLBoolean.name: lambda value: type(value) is bool,
    GraphQLInt.name: _int,
    GraphQLFloat.name: _float,
}
_SCALARS = (GraphQLString, GraphQLID, GraphQLBoolean, GraphQLInt, GraphQLFloat)
_BUILT_IN = {scalar.name: scalar for scalar in _SCALARS}


@dataclass(frozen=True, slots=True)
class _Simple:
    """A variable of a built-in scalar type, nullable or not, without a default."""

    signature: GraphQLVariableSignature
    nullable: bool
    unchanged: Any  # (value) -> bool: the scalar would parse the value to itself


@dataclass(frozen=True, slots=True)
class VariablePlan:
    """How one operation's variables are coerced."""

    operation: OperationDefinitionNode
    # None: some definition is not a plain built-in scalar; graphql-core coerces them.
    simple: tuple[_Simple, ...] | None

    def coerce(
        self,
        schema: GraphQLSchema,
        inputs: Mapping[str, Any] | None,
        *,
        max_errors: int,
        hide_suggestions: bool,
    ) -> VariableValues | list[GraphQLError]:
        """The coerced variables (what `get_variable_values` returns), or their errors."""
        given = inputs or {}
        if self.simple is not None:
            sources: dict[str, VariableValueSource] = {}
            coerced: dict[str, Any] = {}
            for variable in self.simple:
                name = variable.signature.name
                value = given.get(name, given)  # `given` itself: not there
                if (value is None and variable.nullable) or variable.unchanged(value):
                    sources[name] = VariableValueSource(variable.signature, value)
                    coerced[name] = value
                else:
                    break
            else:
                return VariableValues(sources, coerced)
        return get_variable_values(
            schema,
            self.operation.variable_definitions or (),
            given if isinstance(given, dict) else dict(given),
            max_errors=max_errors,
            hide_suggestions=hide_suggestions,
        )


def compile_variables(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> VariablePlan:
    """The variable plan of one operation of a validated document."""
    simple: list[_Simple] = []
    for definition in operation.variable_definitions or ():
        signature = get_variable_signature(schema, definition)
        if not isinstance(signature, GraphQLVariableSignature) or signature.default is not None:
            return VariablePlan(operation, None)
        kind = signature.type
        nullable = not isinstance(kind, GraphQLNonNull)
        named = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
        # The schema's own scalar of that name must be graphql-core's (not a replacement).
        if not isinstance(named, GraphQLScalarType) or _BUILT_IN.get(named.name) is not named:
            return VariablePlan(operation, None)
        simple.append(_Simple(signature, nullable, _UNCHANGED[named.name]))
    return VariablePlan(operation, tuple(simple))
