"""Batched fields: one definition, a per-object resolver through the loader, a level form."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
import strawberry
from aiodataloader import DataLoader
from graphql import ExecutionResult, execute, parse

from wren import _compat
from wren.compiled import CompiledQueries
from wren.level_form import level_form_of
from wren.schema.levels import Lookup, batched, through


class Source:
    """A loader over squares that records every batch and every single load."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.loads: list[int] = []
        self.loader: DataLoader[int, int] = DataLoader(batch_load_fn=self.batch)

    async def batch(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        return [key * key for key in keys]

    def load(self, key: int) -> Any:
        self.loads.append(key)
        return self.loader.load(key)


class Context:
    def __init__(self, viewer: int | None = None) -> None:
        self.source = Source()
        self.viewer = viewer


@strawberry.type
class Item:
    n: int

    @strawberry.field(graphql_type=int)
    @batched
    def square(info: strawberry.Info[Context, None]) -> Lookup[Item, int, int, int]:
        source = info.context.source
        return Lookup(lambda item: item.n, source.load, source.batch)

    @strawberry.field(description="The square plus `by`.", graphql_type=str)
    @batched
    def shifted(
        info: strawberry.Info[Context, None],
        by: Annotated[int, strawberry.argument(description="Added.")] = 1,
    ) -> Lookup[Item, int, int, str]:
        source = info.context.source
        return through(source.loader, lambda item: item.n, lambda n, sq: f"{n}:{sq + by}")

    @strawberry.field(graphql_type=int)
    @batched
    def viewer(info: strawberry.Info[Context, None]) -> Lookup[Item, int, int, int] | int:
        if info.context.viewer is None:
            return -1
        return through(info.context.source.loader, lambda item: item.n + info.context.viewer)


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(n=n) for n in (1, 2, 3)]


SCHEMA = strawberry.Schema(Query)
DOCUMENT = "{ items { n square shifted(by: 10) viewer } }"
EXPECTED = {
    "items": [
        {"n": 1, "square": 1, "shifted": "1:11", "viewer": 1},
        {"n": 2, "square": 4, "shifted": "2:14", "viewer": 4},
        {"n": 3, "square": 9, "shifted": "3:19", "viewer": 9},
    ]
}


async def core(context: Context, text: str = DOCUMENT) -> dict[str, Any] | None:
    result = execute(_compat.core_schema(SCHEMA), parse(text), context_value=context)
    done = result if isinstance(result, ExecutionResult) else await result
    assert done.errors is None
    return done.data


async def fast(context: Context, text: str = DOCUMENT) -> dict[str, Any] | None:
    compiled = CompiledQueries(_compat.core_schema(SCHEMA))
    plan = compiled.plan(parse(text), None)
    assert plan is not None
    data, errors = await compiled.run(plan, context, {})
    assert errors == []
    return data


def test_strawberry_sees_the_definitions_arguments() -> None:
    sdl = SCHEMA.as_str()
    assert "square: Int!" in sdl
    assert (
        '"""The square plus `by`."""\n  shifted(\n    """Added."""\n    by: Int! = 1\n  ): String!'
        in sdl
    )
    assert "viewer: Int!" in sdl


def test_the_resolver_carries_its_level_form() -> None:
    [field] = [f for f in Item.__strawberry_definition__.fields if f.python_name == "square"]
    assert field.base_resolver is not None
    assert field.base_resolver.self_parameter is not None
    assert not field.base_resolver.is_async
    assert level_form_of(field.base_resolver.wrapped_func) is not None


async def test_graphql_core_batches_per_object_loads_through_the_loader() -> None:
    context = Context(viewer=0)
    assert await core(context) == EXPECTED
    # Three objects' loads of `square`; one loader batch for every field of the tick.
    assert context.source.loads == [1, 2, 3]
    assert context.source.batches == [[1, 2, 3]]


async def test_the_fast_path_calls_each_batch_once_per_level_without_the_loader() -> None:
    context = Context(viewer=0)
    assert await fast(context) == EXPECTED
    assert context.source.loads == []
    assert context.source.batches == [[1, 2, 3]] * 3  # square, shifted, viewer


async def test_a_value_for_every_parent_needs_no_load() -> None:
    for run in (core, fast):
        context = Context()
        data = await run(context, "{ items { viewer } }")
        assert data == {"items": [{"viewer": -1}] * 3}
        assert context.source.batches == []


async def test_a_rendering_level_form_needs_a_lookup_that_renders() -> None:
    """`renders` is asked at plan time; its form fails loudly (never a silent Python
    answer where the plan expects finished JSON) when the Lookup cannot render (inside a
    running loop, as a request is: its loaders need one)."""
    from wren.level_form import Selected, renders_of

    def no_render(source: Source) -> Lookup[Any, int, int, int]:
        return through(source.loader, lambda item: item)

    resolver = batched(renders=lambda selection: (frozenset({"a"}), "spec"))(no_render)
    renders = renders_of(resolver)
    assert renders is not None
    rendering = renders((Selected("a", "a", False, None),))
    assert rendering is not None
    assert rendering.keys == frozenset({"a"})
    with pytest.raises(RuntimeError, match="no Lookup that renders"):
        rendering.form([1], Source())
    assert renders_of(batched(no_render)) is None
