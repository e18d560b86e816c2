"""Compiling a query operation into a plan: which attribute or resolver serves each key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    is_input_type,
    is_required_argument,
)
from graphql.execution import VariableValues, get_argument_values
from graphql.utilities import get_operation_ast, is_equal_type, type_from_ast

from wren import _compat
from wren.level_form import Renders, Selected, level_form_of, renders_of
from wren.literals import has_variable

# RESOLVER: called per object; LEVEL: a level form, called once for all the objects.
TYPENAME, ATTRIBUTE, RESOLVER, LEVEL = 0, 1, 2, 3


class Unsupported(Exception):
    """The document uses something the fast path does not compile."""


@dataclass(slots=True)
class FieldPlan:
    """How one response key of one object type is produced."""

    key: str
    kind: int
    node: FieldNode | None = None  # where errors of this key are located
    parent: str = ""  # the object type and field, for error messages
    name: str = ""
    constant: str = ""
    attribute: str = ""
    function: Callable[..., Any] | None = None
    passes_self: bool = False
    info_name: str | None = None
    arguments: Arguments | None = None
    nullable: bool = True
    is_list: bool = False
    items_nullable: bool = True
    serialize: Callable[[Any], Any] | None = None
    exact: type | None = None
    children: list[FieldPlan] | None = None
    renders: Renders | None = None  # how the level form may render what is below it
    literals: tuple[tuple[str, Any], ...] | None = None  # arguments known without variables
    # What is selected, as written: kept before a level form renders what is below it
    # (which drops `children`), for the level forms above that render it too.
    selected: Selected | None = None


# Scalars whose serialization leaves a value of this exact Python type unchanged.
_EXACT: dict[str, type] = {"String": str, "ID": str, "Int": int, "Boolean": bool}


def _serializer(scalar: GraphQLScalarType) -> Callable[[Any], Any]:
    """Leaf serialization, skipping graphql-core's checks where the Python type is exact."""
    name, serialize = scalar.name, scalar.serialize
    exact = _EXACT.get(name)
    if exact is None:
        return serialize

    def fast(value: Any) -> Any:
        return value if type(value) is exact else serialize(value)

    return fast


_MISSING: Any = object()

Arguments = Callable[[VariableValues], dict[str, Any]]


def _arguments(
    definition: GraphQLField,
    node: FieldNode,
    names: dict[str, str],
    declared: dict[str, GraphQLInputType],
) -> Arguments:
    """A field's keyword arguments from the request's variables.

    graphql-core's `get_argument_values` coerces every argument of every field on every
    request. What is known at compile time is computed then: literal arguments and the
    defaults of arguments not given. An argument given a variable of exactly its own type
    takes the variable's coerced value as it is (or its default when the variable is not
    given), which is what graphql-core makes of it. Any other argument (a variable of
    another type, one inside a literal) keeps graphql-core's coercion per request.
    """
    direct: list[tuple[str, str, Any]] = []  # (python name, variable, default or _MISSING)
    for argument in node.arguments or ():
        name, value = argument.name.value, argument.value
        kind = declared.get(value.name.value) if isinstance(value, VariableNode) else None
        if kind is None or not is_equal_type(kind, definition.args[name].type):
            if has_variable(value):
                return _coerced(definition, node, names)
            continue
        assert isinstance(value, VariableNode)
        default: dict[str, Any] = {}
        if not is_required_argument(definition.args[name]):
            get_default = GraphQLField(definition.type, {name: definition.args[name]})
            default = get_argument_values(get_default, FieldNode(name=node.name, arguments=()))
        direct.append((names[name], value.name.value, default.get(name, _MISSING)))
    given = {name for name, _, _ in direct}
    literal = GraphQLField(
        definition.type,
        {name: arg for name, arg in definition.args.items() if names[name] not in given},
    )
    literal_node = FieldNode(
        name=node.name,
        arguments=tuple(a for a in node.arguments or () if names[a.name.value] not in given),
    )
    try:
        fixed = {names[k]: v for k, v in get_argument_values(literal, literal_node).items()}
    except GraphQLError:  # raised per request then, located as graphql-core locates it
        return _coerced(definition, node, names)
    if not direct:
        return lambda _: dict(fixed)

    def arguments(variables: VariableValues) -> dict[str, Any]:
        values = dict(fixed)
        coerced = variables.coerced
        for python_name, variable, default in direct:
            value = coerced.get(variable, _MISSING)
            if value is not _MISSING:
                values[python_name] = value
            elif default is not _MISSING:
                values[python_name] = default
        return values

    return arguments


def _coerced(definition: GraphQLField, node: FieldNode, names: dict[str, str]) -> Arguments:
    """A field's keyword arguments, coerced by graphql-core per request."""

    def arguments(variables: VariableValues) -> dict[str, Any]:
        values = get_argument_values(definition, node, variables)
        return {names[k]: v for k, v in values.items()}

    return arguments


class _Compiler:
    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode | None = None,
    ) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        # The operation's variables and their types.
        self.declared: dict[str, GraphQLInputType] = {}
        for variable in (operation.variable_definitions or ()) if operation else ():
            kind = type_from_ast(schema, variable.type)
            if is_input_type(kind):
                self.declared[variable.variable.name.value] = kind

    def selections(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode
    ) -> list[FieldNode]:
        # Fragments are inlined wherever they are spread: the plan is the expanded
        # operation, whose size WREN_MAX_FIELDS bounded before validation.
        fields: list[FieldNode] = []
        for selection in selection_set.selections:
            if selection.directives:
                raise Unsupported("directives")
            if isinstance(selection, FieldNode):
                fields.append(selection)
                continue
            condition: NamedTypeNode | None
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if fragment.directives:
                    raise Unsupported("directives")
                condition, nested = fragment.type_condition, fragment.selection_set
            elif isinstance(selection, InlineFragmentNode):
                condition, nested = selection.type_condition, selection.selection_set
            else:  # pragma: no cover - the AST has no other selection kinds
                raise Unsupported(type(selection).__name__)
            if condition is not None and condition.name.value != parent.name:
                raise Unsupported("fragment on another type")
            fields += self.selections(parent, nested)
        return fields

    def object_plan(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode
    ) -> list[FieldPlan]:
        plans: list[FieldPlan] = []
        seen: set[str] = set()
        for node in self.selections(parent, selection_set):
            key = node.alias.value if node.alias else node.name.value
            if key in seen:
                raise Unsupported("a response key selected twice")
            seen.add(key)
            plans.append(self.field_plan(parent, node, key))
        return plans

    def field_plan(self, parent: GraphQLObjectType, node: FieldNode, key: str) -> FieldPlan:
        name = node.name.value
        if name == "__typename":
            plan = FieldPlan(key, TYPENAME, node, parent.name, name, parent.name, nullable=False)
            plan.selected = _selected(plan)
            return plan
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition: GraphQLField = parent.fields[name]
        plan = self.resolution(definition, node, key)
        plan.node, plan.parent, plan.name = node, parent.name, name
        self.shape(plan, definition.type, node)
        plan.selected = _selected(plan)
        if plan.renders is not None and plan.children is not None:
            _render(plan, plan.renders)
        return plan

    def resolution(self, definition: GraphQLField, node: FieldNode, key: str) -> FieldPlan:
        field = _compat.field_definition(definition)
        if field is None:
            raise Unsupported(f"`{node.name.value}` is not a Strawberry field")
        if field.extensions or field.permission_classes:
            raise Unsupported(f"`{field.python_name}` has field extensions or permission classes")
        resolver = field.base_resolver
        if resolver is None:
            if node.arguments:
                raise Unsupported("arguments on a plain field")
            return FieldPlan(key, ATTRIBUTE, attribute=field.python_name)
        if resolver.root_parameter is not None or resolver.parent_parameter is not None:
            raise Unsupported("root or parent parameters")
        names: dict[str, str] = {}
        for argument in field.arguments:
            named = definition.args[argument.graphql_name or argument.python_name].type
            while isinstance(named, GraphQLNonNull | GraphQLList):
                if isinstance(named, GraphQLList):
                    raise Unsupported("list arguments")
                named = named.of_type
            if not isinstance(named, GraphQLScalarType):
                raise Unsupported("non-scalar arguments")
            names[argument.graphql_name or argument.python_name] = argument.python_name

        literals = _literals(definition, node)

        info = resolver.info_parameter
        passes_self = resolver.self_parameter is not None
        wrapped: Callable[..., Any] = resolver.wrapped_func  # type: ignore[assignment]
        level = level_form_of(wrapped) if passes_self else None
        return FieldPlan(
            key,
            RESOLVER if level is None else LEVEL,
            function=wrapped if level is None else level,
            passes_self=passes_self,
            info_name=None if info is None else info.name,
            arguments=_arguments(definition, node, names, self.declared),
            renders=None if level is None else renders_of(wrapped),
            literals=literals,
        )

    def shape(self, plan: FieldPlan, output: GraphQLOutputType, node: FieldNode) -> None:
        if isinstance(output, GraphQLNonNull):
            plan.nullable, output = False, output.of_type
        if isinstance(output, GraphQLList):
            plan.is_list, output = True, output.of_type
            if isinstance(output, GraphQLNonNull):
                plan.items_nullable, output = False, output.of_type
            if isinstance(output, GraphQLList):
                raise Unsupported("nested lists")
        if isinstance(output, GraphQLScalarType):
            plan.serialize = _serializer(output)
            plan.exact = _EXACT.get(output.name)
        elif isinstance(output, GraphQLObjectType) and node.selection_set is not None:
            plan.children = self.object_plan(output, node.selection_set)
        else:
            raise Unsupported("abstract or enum types")


def _literals(definition: GraphQLField, node: FieldNode) -> tuple[tuple[str, Any], ...] | None:
    """The field's argument values (GraphQL names, defaults included) when no variable
    gives one, for a level form that renders the field in SQL; None otherwise (or when
    they are invalid: the resolver then reports it where graphql-core would)."""
    if any(isinstance(argument.value, VariableNode) for argument in node.arguments or ()):
        return None
    try:
        return tuple(get_argument_values(definition, node, None).items())
    except GraphQLError:
        return None


def _selected(plan: FieldPlan) -> Selected:
    if plan.selected is not None:
        return plan.selected
    arguments = bool(plan.node is not None and plan.node.arguments)
    children = None if plan.children is None else tuple(map(_selected, plan.children))
    return Selected(plan.key, plan.name, arguments, children, plan.literals)


def _render(plan: FieldPlan, renders: Renders) -> None:
    """Let a level form render what is below its field: the keys it renders become
    values taken as they are (finished JSON), with nothing below them to complete (or,
    for a whole rendering, the field's value is, with nothing planned below it)."""
    assert plan.children is not None
    rendering = renders(tuple(map(_selected, plan.children)))
    if rendering is None:
        return
    if rendering.whole:
        # A null in a non-null position would not be reported: only a nullable field's
        # value is taken whole.
        if plan.nullable and not plan.is_list:
            plan.function, plan.children = rendering.form, None
        return
    plan.function = rendering.form
    for child in plan.children:
        if child.key in rendering.keys:
            child.children, child.serialize, child.exact = None, None, None


class Level(list[FieldPlan]):
    """The plans of one selection set, and what the runner reads of them on every level
    (which are resolvers, level forms, objects, leaves): computed once, when compiled."""

    def __init__(self, plans: list[FieldPlan]) -> None:
        super().__init__(plans)
        self.keys = [plan.key for plan in plans]
        self.resolvers = [c for c, plan in enumerate(plans) if plan.kind == RESOLVER]
        self.levels = [c for c, plan in enumerate(plans) if plan.kind == LEVEL]
        self.nested = [(c, plan) for c, plan in enumerate(plans) if plan.children is not None]
        # Leaves, and the Python types their values may have to be kept as they are.
        self.leaves = [
            (c, plan, _unchanged(plan)) for c, plan in enumerate(plans) if plan.serialize
        ]


def _unchanged(plan: FieldPlan) -> frozenset[type] | None:
    """The types of a leaf's values that its serialization leaves as they are."""
    if plan.is_list or plan.exact is None:
        return None
    return frozenset({plan.exact, type(None)} if plan.nullable else {plan.exact})


def _levels(plans: list[FieldPlan]) -> Level:
    """The plans as Levels, all the way down (once level forms have rendered theirs)."""
    for plan in plans:
        if plan.children is not None:
            plan.children = _levels(plan.children)
    return Level(plans)


@dataclass(slots=True)
class Plan:
    """A compiled query operation."""

    operation: OperationDefinitionNode
    fields: Level


def compile_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> Plan | str:
    """The plan of a query operation, or why the fast path does not apply."""
    operation = get_operation_ast(document, operation_name)
    root = schema.query_type
    if operation is None or root is None:
        return "no single operation"
    if operation.operation is not OperationType.QUERY:
        return f"a {operation.operation.value}"
    if operation.directives:
        return "directives"
    try:
        fields = _Compiler(schema, document, operation).object_plan(root, operation.selection_set)
    except Unsupported as unsupported:
        return str(unsupported)
    return Plan(operation, _levels(fields))
