"""The fast path's arguments are graphql-core's, computed at compile time where they can be."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import FieldNode, OperationDefinitionNode, build_schema, parse
from graphql.execution import get_argument_values, get_variable_values

from wren.compiled.plan import _arguments, _Compiler

SCHEMA = build_schema(
    """
    type Query {
      f(s: String, n: Int = 20, m: Int!, k: Int! = 3, i: ID): Int
    }
    """
)
FIELD = SCHEMA.query_type.fields["f"]  # type: ignore[union-attr]
NAMES = {name: f"py_{name}" for name in FIELD.args}

DOCUMENTS = [
    "{ f(m: 1) }",
    '{ f(s: "a", n: 5, m: 1, k: 2, i: "x") }',
    "query ($m: Int!) { f(m: $m) }",
    "query ($m: Int!, $n: Int) { f(m: $m, n: $n) }",
    "query ($m: Int!, $n: Int = 7) { f(m: $m, n: $n) }",
    "query ($s: String, $i: ID) { f(m: 1, s: $s, i: $i) }",
    "query ($k: Int!) { f(m: 2, k: $k) }",
    "query ($n: Int!) { f(m: 2, n: $n) }",  # another type than the argument's: coerced
    "query ($m: Int) { f(m: 1, k: $m) }",
    "query ($x: String) { f(m: 1, s: $x, n: 4) }",
]
VARIABLES: list[dict[str, Any]] = [
    {},
    {"m": 4},
    {"m": 4, "n": None},
    {"m": 4, "n": 9},
    {"s": "b", "i": "7", "k": 8, "m": 1, "n": 2, "x": None},
    {"s": None, "i": None, "k": 8},
    {"x": "y"},
]


def _parts(text: str) -> tuple[OperationDefinitionNode, FieldNode]:
    [operation] = parse(text).definitions
    assert isinstance(operation, OperationDefinitionNode)
    [node] = operation.selection_set.selections
    assert isinstance(node, FieldNode)
    return operation, node


@pytest.mark.parametrize("text", DOCUMENTS)
@pytest.mark.parametrize("inputs", VARIABLES, ids=repr)
def test_arguments_as_graphql_core_gives_them(text: str, inputs: dict[str, Any]) -> None:
    operation, node = _parts(text)
    variables = get_variable_values(SCHEMA, operation.variable_definitions or (), inputs)
    if isinstance(variables, list):
        pytest.skip("variables graphql-core refuses never reach execution")
    declared = _Compiler(SCHEMA, parse(text), operation).declared
    arguments = _arguments(FIELD, node, NAMES, declared)
    try:
        expected = {NAMES[k]: v for k, v in get_argument_values(FIELD, node, variables).items()}
    except Exception as error:
        with pytest.raises(type(error)):
            arguments(variables)
        return
    first = arguments(variables)
    assert first == expected
    first["info"] = object()  # the runner adds `info`: the next request does not see it
    assert arguments(variables) == expected
