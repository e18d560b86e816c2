"""Arguments checked before the cost is estimated and before anything runs.

`posts(first: 100000)` is a mistake about `first`, not an expensive operation: it is
refused as BAD_USER_INPUT naming the argument and its range (wren.validation holds the
ranges; the resolvers check them again), before the cost would call it too costly. A
variable reaches an argument only once coerced, and validation lets a nullable variable
into a non-null argument that has a default; `users(first: $n)` with `{"n": null}` is then
refused here, BAD_USER_INPUT naming the argument, instead of failing during execution
without a code. Directive arguments (`@include(if: $flag)`) are checked the same way.

Compiled once per document and operation (each fragment walked once): literal arguments
are checked then, arguments taking variables per request, one by one through
graphql-core's own coercion. An argument given a variable of exactly its own type (what
clients write: `userByHandle(handle: $handle)` with `$handle: String!`) cannot fail that
coercion, the variable being coerced to that type already: only its range is checked,
on the variable's value, and an argument without a range is not looked at per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DirectiveNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLDirective,
    GraphQLError,
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
    is_input_type,
)
from graphql.execution import get_argument_values
from graphql.utilities import is_equal_type, type_from_ast

from wren import validation
from wren.errors import BadUserInput
from wren.literals import has_variable
from wren.pipeline.selections import Walker

if TYPE_CHECKING:
    from graphql import ArgumentNode, GraphQLInputType
    from graphql.execution import VariableValues

BAD_USER_INPUT = "BAD_USER_INPUT"

Check = Callable[[int, str], int]


def _refusal(message: str, node: ArgumentNode, argument: str) -> GraphQLError:
    return GraphQLError(message, node, extensions={"code": BAD_USER_INPUT, "argument": argument})


def _in_range(
    check: Check | None, value: Any, node: ArgumentNode, name: str
) -> GraphQLError | None:
    if check is None or isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        check(value, name)
    except BadUserInput as error:
        return GraphQLError(error.message, node, extensions=error.extensions)
    return None


@dataclass(frozen=True, slots=True)
class _Variable:
    """One argument that takes a variable: coerced alone, as execution would."""

    name: str
    node: ArgumentNode
    definition: GraphQLField | GraphQLDirective  # with this argument only
    carrier: FieldNode | DirectiveNode  # with this argument only
    check: Check | None

    def error(self, variables: VariableValues, hide_suggestions: bool) -> GraphQLError | None:
        try:
            values = get_argument_values(
                self.definition, self.carrier, variables, hide_suggestions=hide_suggestions
            )
        except GraphQLError as error:
            return _refusal(error.message, self.node, self.name)
        return next((_in_range(self.check, v, self.node, self.name) for v in values.values()), None)


@dataclass(frozen=True, slots=True)
class _Direct:
    """An argument with a range given a variable of exactly its type: only the range."""

    name: str
    variable: str
    node: ArgumentNode
    check: Check

    def error(self, variables: VariableValues, hide_suggestions: bool) -> GraphQLError | None:
        value = variables.coerced.get(self.variable)  # absent: the argument's default
        return _in_range(self.check, value, self.node, self.name)


@dataclass(frozen=True, slots=True)
class ArgumentPlan:
    """The argument errors of an operation: fixed ones, and those its variables may cause."""

    fixed: tuple[GraphQLError, ...]
    variables: tuple[_Variable | _Direct, ...]

    def check(self, variables: VariableValues, *, hide_suggestions: bool) -> list[GraphQLError]:
        """The errors with these (coerced) variables: empty when every argument is fine."""
        if not self.variables:
            return list(self.fixed)
        errors = list(self.fixed)
        for argument in self.variables:
            error = argument.error(variables, hide_suggestions)
            if error is not None:
                errors.append(error)
        return errors


class _Compiler(Walker[None]):
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        declared: Mapping[str, GraphQLInputType],
    ) -> None:
        super().__init__(fragments, None, schema)
        self.schema = schema
        # The operation's variables and their types.
        self.declared = declared
        self.fixed: list[GraphQLError] = []
        self.variables: list[_Variable | _Direct] = []

    def selection_set(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> None:
        for selection, kind in self.each(selection_set, parent):
            self.directives(selection.directives)
            if isinstance(selection, FieldNode):
                self.field(selection, kind)
            elif isinstance(selection, FragmentSpreadNode):
                # A field of a fragment has the same definition at every spread: walked once.
                self.spread(selection.name.value, self.fragment)

    def fragment(self, definition: FragmentDefinitionNode) -> None:
        self.directives(definition.directives)
        target = self.schema.get_type(definition.type_condition.name.value)
        self.selection_set(definition.selection_set, target)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return
        definition = parent.fields.get(node.name.value)
        if definition is None:
            return
        for argument in node.arguments or ():
            name = argument.name.value
            check = validation.argument_check(parent.name, node.name.value, name)
            value = argument.value
            variable = value.name.value if isinstance(value, VariableNode) else None
            declared = None if variable is None else self.declared.get(variable)
            if declared is not None and is_equal_type(declared, definition.args[name].type):
                assert variable is not None
                if check is not None:
                    self.variables.append(_Direct(name, variable, argument, check))
            elif has_variable(value):
                single = GraphQLField(definition.type, {name: definition.args[name]})
                carrier = FieldNode(name=node.name, arguments=(argument,), loc=node.loc)
                self.variables.append(_Variable(name, argument, single, carrier, check))
            elif isinstance(value, IntValueNode):
                error = _in_range(check, int(value.value), argument, name)
                if error is not None:
                    self.fixed.append(error)
        self.selection_set(node.selection_set, get_named_type(definition.type))

    def directives(self, nodes: Sequence[DirectiveNode] | None) -> None:
        for node in nodes or ():
            directive = self.schema.get_directive(node.name.value)
            if directive is None:
                continue
            for argument in node.arguments or ():
                name = argument.name.value
                if name not in directive.args or not has_variable(argument.value):
                    continue
                single = GraphQLDirective(
                    directive.name, directive.locations, {name: directive.args[name]}
                )
                carrier = DirectiveNode(name=node.name, arguments=(argument,), loc=node.loc)
                self.variables.append(_Variable(name, argument, single, carrier, None))


def compile_arguments(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
) -> ArgumentPlan:
    """The argument plan of one operation of a validated document."""
    declared: dict[str, GraphQLInputType] = {}
    for definition in operation.variable_definitions or ():
        kind = type_from_ast(schema, definition.type)
        if is_input_type(kind):
            declared[definition.variable.name.value] = kind
    compiler = _Compiler(schema, fragments, declared)
    compiler.directives(operation.directives)
    compiler.selection_set(operation.selection_set, schema.get_root_type(operation.operation))
    return ArgumentPlan(tuple(compiler.fixed), tuple(compiler.variables))
