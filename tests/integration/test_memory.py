"""A request's objects are freed by reference counting when it ends, not left to the GC."""

from __future__ import annotations

import gc

import httpx
import pytest

from tests.conftest import gql, operation
from wren.settings import Settings

pytestmark = pytest.mark.usefixtures("small_world")

# What a request builds: none of it may sit in a reference cycle.
REQUEST_OBJECTS = {"Row", "Page", "PageKey", "Future", "Loaders", "DataLoader", "Context"}


@pytest.mark.parametrize(
    ("name", "variables"), [("Directory", {"first": 4}), ("Timeline", {"first": 5})]
)
async def test_a_request_leaves_nothing_in_cycles(
    client: httpx.AsyncClient, settings: Settings, name: str, variables: dict[str, int]
) -> None:
    if not settings.compiled_queries:
        # graphql-core 3.3's execution context holds cycles of its own (its collected
        # errors and fields, bound methods): with every query on graphql-core, the
        # collector frees them. The fast path's objects must not need it.
        pytest.skip("graphql-core's execution leaves its own cycles to the collector")
    await gql(client, operation(name), variables)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await gql(client, operation(name), variables)
        gc.collect()
        left = {type(o).__name__ for o in gc.garbage} & REQUEST_OBJECTS
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == set()
