"""A compiled fast path for queries: one resolver pass per field per level, not per object.

graphql-core completes every field of every object on its own (argument coercion, an
info object, type checks, a coroutine per list item): for a Directory page of 1,500
objects that costs far more than the SQL. A query document is compiled once into a plan
(which resolver or attribute serves each response key, how leaves serialize), then
executed breadth-first: a field's arguments are evaluated once for all the objects of a
level, plain attributes are read in a list comprehension, and every resolver coroutine of
a level is gathered together, so DataLoaders still batch each level into one statement.

The plan covers what the hot operations use: object types, scalar arguments, fragments on
the concrete type, `__typename`. Anything else (abstract types, directives, input objects,
introspection) is not compiled, and any surprise while running (a resolver error, a null
where the schema forbids one) abandons the fast path: graphql-core then executes the whole
operation and reports errors exactly as the specification says. Only queries take this
path, so running the operation twice never repeats a side effect.
"""

from __future__ import annotations

import asyncio
from asyncio import isfuture
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from inspect import iscoroutine
from operator import attrgetter
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
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
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.utilities import get_operation_ast

_DEFINITION = "strawberry-definition"
_TYPENAME, _ATTRIBUTE, _RESOLVER = 0, 1, 2


class Unsupported(Exception):
    """The document uses something the fast path does not compile."""


class Abandon(Exception):
    """Something unexpected happened while running: let graphql-core answer instead."""


@dataclass(slots=True)
class ResolveInfo:
    """What resolvers read from `info` (the context) without graphql-core's per-field object."""

    context: Any


@dataclass(slots=True)
class FieldPlan:
    """How one response key of one object type is produced."""

    key: str
    kind: int
    constant: str = ""
    attribute: str = ""
    function: Callable[..., Any] | None = None
    passes_self: bool = False
    info_name: str | None = None
    arguments: Callable[[VariableValues], dict[str, Any]] | None = None
    nullable: bool = True
    is_list: bool = False
    items_nullable: bool = True
    serialize: Callable[[Any], Any] | None = None
    exact: type | None = None
    children: list[FieldPlan] | None = None


_NONE = type(None)
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


class _Compiler:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode) -> None:
        self.schema = schema
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }

    def selections(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode
    ) -> list[FieldNode]:
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
            return FieldPlan(key, _TYPENAME, constant=parent.name, nullable=False)
        if name.startswith("__"):
            raise Unsupported("introspection")
        definition: GraphQLField = parent.fields[name]
        plan = self.resolution(definition, node, key)
        self.shape(plan, definition.type, node)
        return plan

    def resolution(self, definition: GraphQLField, node: FieldNode, key: str) -> FieldPlan:
        field = (definition.extensions or {}).get(_DEFINITION)
        if field is None or field.extensions or field.permission_classes:
            raise Unsupported("a field with extensions")
        resolver = field.base_resolver
        if resolver is None:
            if node.arguments:
                raise Unsupported("arguments on a plain field")
            return FieldPlan(key, _ATTRIBUTE, attribute=field.python_name)
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

        def arguments(variables: VariableValues) -> dict[str, Any]:
            values = get_argument_values(definition, node, variables)
            return {names[k]: v for k, v in values.items()}

        info = resolver.info_parameter
        return FieldPlan(
            key,
            _RESOLVER,
            function=resolver.wrapped_func,
            passes_self=resolver.self_parameter is not None,
            info_name=None if info is None else info.name,
            arguments=arguments,
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


@dataclass(slots=True)
class Plan:
    """A compiled query operation."""

    operation: OperationDefinitionNode
    fields: list[FieldPlan]


async def _gather(awaitables: list[Any]) -> list[Any]:
    """Await all; any failure abandons the fast path, after every awaitable has finished."""
    done = await asyncio.gather(*awaitables, return_exceptions=True)
    for value in done:
        if isinstance(value, BaseException):
            raise Abandon from value
    return done


class CompiledQueries:
    """Plans per (document, operation), and the breadth-first runner."""

    def __init__(self, schema: GraphQLSchema, size: int = 1000) -> None:
        self.schema = schema
        self.size = size
        self._plans: OrderedDict[tuple[int, str | None], tuple[DocumentNode, Plan | None]] = (
            OrderedDict()
        )

    def plan(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        """The plan of a query operation, or None when the fast path does not apply."""
        key = (id(document), operation_name)
        cached = self._plans.get(key)
        if cached is not None and cached[0] is document:
            return cached[1]
        plan = self._compile(document, operation_name)
        self._plans[key] = (document, plan)
        if len(self._plans) > self.size:
            self._plans.popitem(last=False)
        return plan

    def _compile(self, document: DocumentNode, operation_name: str | None) -> Plan | None:
        operation = get_operation_ast(document, operation_name)
        root = self.schema.query_type
        if operation is None or operation.operation is not OperationType.QUERY or root is None:
            return None
        if operation.directives:
            return None
        try:
            fields = _Compiler(self.schema, document).object_plan(root, operation.selection_set)
        except Unsupported:
            return None
        return Plan(operation, fields)

    async def run(
        self, plan: Plan, context: Any, raw_variables: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The `data` of the operation, or None: graphql-core must execute it instead."""
        variables = get_variable_values(
            self.schema, plan.operation.variable_definitions or (), raw_variables or {}
        )
        if isinstance(variables, list):  # invalid variables: graphql-core reports them
            return None
        try:
            [data] = await _Run(ResolveInfo(context), variables).objects(plan.fields, [None])
        except Exception:
            return None
        return data


class _Run:
    def __init__(self, info: ResolveInfo, variables: VariableValues) -> None:
        self.info = info
        self.variables = variables

    def resolve(self, plan: FieldPlan, objects: list[Any]) -> list[Any]:
        """This field's raw value for every object (awaitables left for the caller)."""
        if plan.kind == _ATTRIBUTE:
            return list(map(attrgetter(plan.attribute), objects))
        if plan.kind == _TYPENAME:
            return [plan.constant] * len(objects)
        assert plan.function is not None
        assert plan.arguments is not None
        kwargs = plan.arguments(self.variables)
        if plan.info_name is not None:
            kwargs[plan.info_name] = self.info
        function = plan.function
        if plan.passes_self:
            return [function(o, **kwargs) for o in objects]
        return [function(**kwargs) for _ in objects]

    async def objects(self, plans: list[FieldPlan], objects: list[Any]) -> list[dict[str, Any]]:
        """Complete the selection `plans` on every object of one level."""
        columns = [self.resolve(plan, objects) for plan in plans]
        # Only resolvers return awaitables; attributes and __typename never do.
        waiting = [
            (c, i, value)
            for c, column in enumerate(columns)
            if plans[c].kind == _RESOLVER
            for i, value in enumerate(column)
            if iscoroutine(value) or isfuture(value)
        ]
        if waiting:
            done = await _gather([value for _, _, value in waiting])
            for (c, i, _), value in zip(waiting, done, strict=True):
                columns[c][i] = value
        children = [(c, plan) for c, plan in enumerate(plans) if plan.children is not None]
        if children:
            completed = await _gather([self.nested(plans[c], columns[c]) for c, _ in children])
            for (c, _), column in zip(children, completed, strict=True):
                columns[c] = column
        for c, plan in enumerate(plans):
            if plan.serialize is not None:
                columns[c] = self.leaves(plan, columns[c])
        keys = [plan.key for plan in plans]
        return [dict(zip(keys, values, strict=True)) for values in zip(*columns, strict=True)]

    def leaves(self, plan: FieldPlan, values: list[Any]) -> list[Any]:
        serialize = plan.serialize
        assert serialize is not None
        if not plan.is_list and plan.exact is not None:
            # Usually every value already has the exact Python type: keep the column as is.
            types = set(map(type, values))
            if types <= ({plan.exact, _NONE} if plan.nullable else {plan.exact}):
                return values
        out: list[Any] = []
        for value in values:
            if value is None:
                if not plan.nullable:
                    raise Abandon
                out.append(None)
            elif plan.is_list:
                items: list[Any] = []
                for item in value:
                    if item is None:
                        if not plan.items_nullable:
                            raise Abandon
                        items.append(None)
                    else:
                        items.append(serialize(item))
                out.append(items)
            else:
                out.append(serialize(value))
        return out

    async def nested(self, plan: FieldPlan, values: list[Any]) -> list[Any]:
        """Complete an object-typed field for every parent at once."""
        assert plan.children is not None
        flat: list[Any] = []
        if plan.is_list:
            for value in values:
                if value is None:
                    if not plan.nullable:
                        raise Abandon
                    continue
                for item in value:
                    if item is None:
                        raise Abandon  # a null item: leave its semantics to graphql-core
                    flat.append(item)
        else:
            for value in values:
                if value is None:
                    if not plan.nullable:
                        raise Abandon
                else:
                    flat.append(value)
        done = iter(await self.objects(plan.children, flat))
        if plan.is_list:
            return [None if value is None else [next(done) for _ in value] for value in values]
        return [None if value is None else next(done) for value in values]
