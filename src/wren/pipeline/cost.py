"""The estimated cost of an operation: objects it may fetch, `first` multiplied along nesting.

Every field returning an object costs 1 for each parent it can be fetched for; a field with
a `first` argument multiplies the count of everything below it. The estimate is an upper
bound: every type condition is assumed to match.

Compiled once per document and operation, and linear in the document's size whatever it
spreads: a selection set's estimate is its object fields plus, for each of them, `first`
times the estimate of its own selection set. A fragment's estimate is compiled once and
shared by every spread of it, so a document whose fragments each spread the next twice
(2^n fields once expanded) compiles and evaluates in n steps, not 2^n. Evaluated per
request with that request's variables (each shared estimate computed once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    is_composite_type,
)

from wren.pipeline.selections import Walker

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

# A factor is a constant `first`, or a variable with the value used when it is not given.
Factor = int | tuple[str, int]

# Estimates above this are not reported (None): JSON clients read numbers as doubles, and
# such an operation is far past any limit anyway.
MAX_REPORTED = 2**53 - 1


@dataclass(slots=True)
class Estimate:
    """The estimate of one selection set: `objects` object fields, and below them `parts`,
    each (the `first` that multiplies it, the estimate of a nested selection set)."""

    objects: int = 0
    parts: list[tuple[Factor, Estimate]] = field(default_factory=list)
    # Set when nothing below depends on a variable: the value, computed at compile time.
    constant: int | None = None


@dataclass(frozen=True, slots=True)
class CostPlan:
    """A compiled estimate of one operation."""

    root: Estimate

    def evaluate(self, variables: Mapping[str, Any] | None) -> int | None:
        """The cost with these variables; None when too large to report."""
        total = _evaluate(self.root, variables or {}, {})
        return None if total > MAX_REPORTED else total


def _evaluate(estimate: Estimate, variables: Mapping[str, Any], seen: dict[int, int]) -> int:
    if estimate.constant is not None:
        return estimate.constant
    known = seen.get(id(estimate))
    if known is not None:
        return known
    total = estimate.objects
    for factor, below in estimate.parts:
        total += _value(factor, variables) * _evaluate(below, variables, seen)
    seen[id(estimate)] = total
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


def _fold(estimate: Estimate) -> Estimate:
    """Compute the estimate now when no factor below it is a variable."""
    if all(isinstance(f, int) and b.constant is not None for f, b in estimate.parts):
        estimate.constant = estimate.objects + sum(
            f * (b.constant or 0) for f, b in estimate.parts if isinstance(f, int)
        )
    return estimate


class _Compiler(Walker[Estimate | None]):
    def __init__(
        self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode]
    ) -> None:
        # A fragment is compiled at its first spread (None while compiling it: a cycle,
        # which validation refuses, counts nothing).
        super().__init__(fragments, None, schema)
        self.schema = schema
        self.defaults: dict[str, Any] = {}

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> Estimate:
        estimate = Estimate()
        for selection, kind in self.each(selection_set, parent):
            if isinstance(selection, FieldNode):
                self.field(estimate, selection, kind)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.spread(selection.name.value, self.fragment)
                if fragment is not None:
                    estimate.parts.append((1, fragment))
        return _fold(estimate)

    def fragment(self, definition: FragmentDefinitionNode) -> Estimate:
        target = self.schema.get_type(definition.type_condition.name.value)
        return self.selection_set(definition.selection_set, target)

    def field(self, estimate: Estimate, node: FieldNode, parent: GraphQLNamedType | None) -> None:
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
        estimate.objects += 1
        below = self.selection_set(node.selection_set, named)
        if below.constant != 0:
            estimate.parts.append((self.first(node, definition), below))

    def first(self, node: FieldNode, definition: GraphQLField) -> Factor:
        argument = definition.args.get("first")
        if argument is None:
            return 1
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
    fragments: Mapping[str, FragmentDefinitionNode],
) -> CostPlan:
    """The cost plan of one operation of a validated document (each fragment read once)."""
    compiler = _Compiler(schema, fragments)
    for definition in operation.variable_definitions or ():
        compiler.defaults[definition.variable.name.value] = definition.default_value
    root = schema.get_root_type(operation.operation)
    return CostPlan(compiler.selection_set(operation.selection_set, root))
