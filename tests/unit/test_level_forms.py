"""Level forms on the compiled fast path: one call per level, or graphql-core when broken."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from graphql import GraphQLError, parse
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission

from wren import _compat
from wren.compiled import CompiledQueries
from wren.schema.levels import level_form

CALLS: list[list[int]] = []


def _doubled_all(items: list[Item], times: int) -> list[int]:
    CALLS.append([item.n for item in items])
    return [item.n * times for item in items]


async def _late_all(items: list[Item]) -> list[int]:
    await asyncio.sleep(0)
    return [item.n + 100 for item in items]


def _shifted_all(items: list[Item]) -> list[int]:
    return [0, *(item.n for item in items)]  # one value too many, in front


@strawberry.type
class Item:
    n: int

    @strawberry.field
    @level_form(_doubled_all)
    def doubled(self, times: int = 2) -> int:
        return self.n * times

    @strawberry.field
    @level_form(_late_all)
    def late(self) -> int:
        return self.n + 100

    @strawberry.field
    @level_form(_shifted_all)
    def shifted(self) -> int:
        return self.n


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=n) for n in (1, 2, 3)]

    @strawberry.field
    def none(self) -> list[Item]:
        return []


SCHEMA = _compat.core_schema(strawberry.Schema(Query))


async def run_with_errors(text: str) -> tuple[dict[str, Any] | None, list[GraphQLError]]:
    compiled = CompiledQueries(SCHEMA)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    return await compiled.run(plan, None, {})


async def run(text: str) -> dict[str, Any] | None:
    data, errors = await run_with_errors(text)
    assert errors == []
    return data


async def test_one_call_for_the_whole_level() -> None:
    CALLS.clear()
    data = await run("{ items { n doubled(times: 3) late } }")
    assert data == {
        "items": [
            {"n": 1, "doubled": 3, "late": 101},
            {"n": 2, "doubled": 6, "late": 102},
            {"n": 3, "doubled": 9, "late": 103},
        ]
    }
    assert CALLS == [[1, 2, 3]]


async def test_an_empty_level_calls_nothing() -> None:
    CALLS.clear()
    assert await run("{ none { doubled } }") == {"none": []}
    assert CALLS == []


async def test_a_level_form_with_a_value_too_many_is_an_error() -> None:
    # Taken as it is, the first three values would be answered, one object off.
    data, errors = await run_with_errors("{ items { shifted } }")
    # `shifted: Int!` in `[Item!]!`: the null propagates to `data`, with the first error.
    assert data is None
    [error] = errors
    assert error.path == ["items", 0, "shifted"]
    assert "returned 4 values for 3 objects" in error.message


class Never(BasePermission):
    message = "never"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


class Shout(FieldExtension):
    def resolve(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return str(next_(source, info, **kwargs)).upper()


@strawberry.type
class Guarded:
    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str:
        return "s"

    @strawberry.field(extensions=[Shout()])
    def loud(self) -> str:
        return "l"

    @strawberry.field
    def plain(self) -> str:
        return "p"


GUARDED = _compat.core_schema(strawberry.Schema(Guarded))


def test_fields_with_permissions_or_extensions_are_not_compiled() -> None:
    """The fast path would skip them: graphql-core runs those documents."""
    compiled = CompiledQueries(GUARDED)
    assert compiled.plan(parse("{ plain }"), None) is not None
    assert compiled.plan(parse("{ plain secret }"), None) is None
    assert compiled.plan(parse("{ loud }"), None) is None
