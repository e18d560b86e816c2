"""Level forms on the compiled fast path: one call per level, or graphql-core when broken."""

from __future__ import annotations

import asyncio
from typing import Any

import strawberry
from graphql import parse

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


SCHEMA = strawberry.Schema(Query)._schema


async def run(text: str) -> dict[str, Any] | None:
    compiled = CompiledQueries(SCHEMA)
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    return await compiled.run(plan, None, {})


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


async def test_a_level_form_with_a_value_too_many_leaves_it_to_graphql_core() -> None:
    # Taken as it is, the first three values would be answered, one object off.
    assert await run("{ items { shifted } }") is None
