"""Compiled variable coercion gives graphql-core's values and errors, whatever the input."""

from __future__ import annotations

import math
from typing import Any

import pytest
from graphql import OperationDefinitionNode, build_schema, parse
from graphql.execution import get_variable_values
from graphql.utilities import is_equal_type

from wren.pipeline.variables import compile_variables

SCHEMA = build_schema(
    """
    enum Order { NEW OLD }
    input Range { from: Int! }
    type Query {
      f(s: String, n: Int, x: Float, b: Boolean, i: ID, o: Order, r: Range, l: [Int]): Int
    }
    """
)

SIMPLE = "query ($s: String!, $n: Int, $x: Float!, $b: Boolean, $i: ID!) { f(s: $s) }"
OTHER = {
    "enum": "query ($o: Order!) { f(o: $o) }",
    "input": "query ($r: Range) { f(r: $r) }",
    "list": "query ($l: [Int]) { f(l: $l) }",
    "default": 'query ($s: String = "a") { f(s: $s) }',
}

VALUES: list[Any] = [
    "a",
    "",
    0,
    1,
    -1,
    2**31 - 1,
    2**31,
    -(2**31),
    -(2**31) - 1,
    1.5,
    float("nan"),
    float("inf"),
    True,
    False,
    None,
    [],
    {},
    "NEW",
    {"from": 1},
    [1, None],
]


def _operation(text: str) -> OperationDefinitionNode:
    [definition] = parse(text).definitions
    assert isinstance(definition, OperationDefinitionNode)
    return definition


def _same(text: str, inputs: dict[str, Any] | None) -> None:
    operation = _operation(text)
    ours = compile_variables(SCHEMA, operation, {}).coerce(
        SCHEMA, inputs, max_errors=50, hide_suggestions=True
    )
    theirs = get_variable_values(
        SCHEMA,
        operation.variable_definitions,
        inputs or {},
        max_errors=50,
        hide_suggestions=True,
    )
    if isinstance(theirs, list):
        assert isinstance(ours, list)
        assert [e.formatted for e in ours] == [e.formatted for e in theirs]
        return
    assert not isinstance(ours, list)
    assert list(ours.coerced) == list(theirs.coerced)
    for name, value in theirs.coerced.items():
        mine = ours.coerced[name]
        assert type(mine) is type(value)
        assert mine == value or (math.isnan(mine) and math.isnan(value))
    assert list(ours.sources) == list(theirs.sources)
    for name, source in theirs.sources.items():
        signature = ours.sources[name].signature
        assert signature.name == source.signature.name
        assert is_equal_type(signature.type, source.signature.type)
        assert signature.default == source.signature.default
        assert ours.sources[name].value is source.value


BASE = {"s": "a", "n": 1, "x": 1.5, "b": True, "i": "id"}


@pytest.mark.parametrize("name", list(BASE))
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_each_built_in_scalar_as_graphql_core(name: str, value: Any) -> None:
    _same(SIMPLE, {**BASE, name: value})


@pytest.mark.parametrize("name", list(BASE))
def test_missing_variables_as_graphql_core(name: str) -> None:
    _same(SIMPLE, {k: v for k, v in BASE.items() if k != name})
    _same(SIMPLE, None)


@pytest.mark.parametrize("kind", list(OTHER))
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_other_types_go_through_graphql_core(kind: str, value: Any) -> None:
    operation = _operation(OTHER[kind])
    assert compile_variables(SCHEMA, operation, {}).simple is None
    name = operation.variable_definitions[0].variable.name.value
    _same(OTHER[kind], {name: value})
    _same(OTHER[kind], {})


def test_simple_definitions_are_checked_per_request_only() -> None:
    plan = compile_variables(SCHEMA, _operation(SIMPLE), {})
    assert plan.simple is not None
    assert [v.signature.name for v in plan.simple] == list(BASE)
    assert [v.nullable for v in plan.simple] == [False, True, False, True, False]
    coerced = plan.coerce(SCHEMA, {**BASE, "extra": 1}, max_errors=50, hide_suggestions=True)
    assert not isinstance(coerced, list)
    assert coerced.coerced == BASE
