"""The estimated cost of an operation: objects it may fetch, `first` multiplied along nesting.

Every field returning an object costs 1 for each parent it can be fetched for; a field with
a `first` argument multiplies the count of everything below it. The estimate is an upper
bound: every type condition is assumed to match. Compiled once per document and operation
into a sum of products, it is evaluated per request with that request's variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import prod
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

# A factor is a constant `first`, or a variable with the value used when it is not given.
Factor = int | tuple[str, int]

# Terms beyond this make the estimate "too costly" without computing it: fragments
# spreading fragments can expand exponentially, and this bounds the work of compiling.
MAX_TERMS = 50_000


@dataclass(frozen=True, slots=True)
class CostPlan:
    """A compiled estimate: the sum of the products of each term's factors."""

    terms: tuple[tuple[Factor, ...], ...]
    unbounded: bool = False

    def evaluate(self, variables: Mapping[str, Any] | None) -> int | None:
        """The cost with these variables; None when too large to compute."""
        if self.unbounded:
            return None
        values = variables or {}
        total = 0
        for factors in self.terms:
            total += prod(_value(factor, values) for factor in factors)
        return total


def _value(factor: Factor, variables: Mapping[str, Any]) -> int:
    if isinstance(factor, int):
        return factor
    name, default = factor
    value = variables.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(value, 0)


def _literal_int(value: Any, fallback: int) -> int:
    return max(int(value.value), 0) if isinstance(value, IntValueNode) else fallback


class _Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.schema = schema
        self.fragments = fragments
        self.defaults: dict[str, Any] = {}
        self.terms: list[tuple[Factor, ...]] = []

    def walk(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        factors: tuple[Factor, ...],
        visiting: frozenset[str],
    ) -> None:
        if selection_set is None or len(self.terms) > MAX_TERMS:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.field(selection, parent, factors, visiting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.walk(selection.selection_set, target, factors, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in visiting:
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.walk(fragment.selection_set, target, factors, visiting | {name})

    def field(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        factors: tuple[Factor, ...],
        visiting: frozenset[str],
    ) -> None:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return
        definition = parent.fields.get(name)
        if definition is None:
            return
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return
        self.terms.append(factors)
        first = self.first(node, definition)
        below = factors if first is None else (*factors, first)
        self.walk(node.selection_set, named, below, visiting)

    def first(self, node: FieldNode, definition: GraphQLField) -> Factor | None:
        argument = definition.args.get("first")
        if argument is None:
            return None
        default = argument.default_value if isinstance(argument.default_value, int) else 1
        for given in node.arguments or ():
            if given.name.value != "first":
                continue
            if isinstance(given.value, VariableNode):
                variable = given.value.name.value
                return (variable, _literal_int(self.defaults.get(variable), default))
            return _literal_int(given.value, default)
        return default


def compile_cost(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> CostPlan:
    """The cost plan of one operation of a validated document."""
    compiler = _Compiler(schema, fragments)
    for definition in operation.variable_definitions or ():
        compiler.defaults[definition.variable.name.value] = definition.default_value
    root = schema.get_root_type(operation.operation)
    compiler.walk(operation.selection_set, root, (), frozenset())
    if len(compiler.terms) > MAX_TERMS:
        return CostPlan((), unbounded=True)
    return CostPlan(tuple(compiler.terms))
