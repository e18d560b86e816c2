"""BatchLoader batches exactly as aiodataloader's DataLoader does, with one task less."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiodataloader import DataLoader

from wren.db.dataloader import BatchLoader


async def batches_of(make: Any, pattern: list[list[int]]) -> list[list[int]]:
    """The batches a loader made of keys loaded `pattern[n]` at the n-th loop iteration."""
    seen: list[list[int]] = []

    async def batch(keys: list[int]) -> list[int]:
        seen.append(list(keys))
        return [key * 10 for key in keys]

    loader = make(batch)
    futures = []
    for keys in pattern:
        futures += [loader.load(key) for key in keys]
        await asyncio.sleep(0)
    assert await asyncio.gather(*futures) == [key * 10 for keys in pattern for key in keys]
    return seen


PATTERNS = [
    [[1, 2, 3]],
    [[1], [2], [3]],
    [[1], [], [2], [], [], [3, 4]],
    [[1, 2], [2, 3], [], [], [1, 5]],
]


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_the_batches_are_aiodataloaders(pattern: list[list[int]]) -> None:
    theirs = await batches_of(lambda fn: DataLoader(batch_load_fn=fn), pattern)
    ours = await batches_of(BatchLoader, pattern)
    assert ours == theirs


async def test_a_key_is_loaded_once_per_loader() -> None:
    calls: list[list[str]] = []

    async def batch(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [key.upper() for key in keys]

    loader = BatchLoader(batch)
    assert await asyncio.gather(loader.load("a"), loader.load("b"), loader.load("a")) == [
        "A",
        "B",
        "A",
    ]
    assert await loader.load("a") == "A"
    assert calls == [["a", "b"]]


async def test_a_failed_batch_fails_each_key_and_is_not_memoised() -> None:
    attempts = 0

    async def batch(keys: list[int]) -> list[int]:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ValueError("down")
        return keys

    loader = BatchLoader(batch)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert [type(r) for r in results] == [ValueError, ValueError]
    assert await loader.load(1) == 1


async def test_none_is_no_key() -> None:
    async def batch(keys: list[Any]) -> list[Any]:
        return keys

    with pytest.raises(TypeError):
        BatchLoader(batch).load(None)


async def test_a_value_that_is_an_exception_fails_its_key_and_a_wrong_length_every_key() -> None:
    async def batch(keys: list[int]) -> list[Any]:
        return [ValueError(key) if key == 2 else key for key in keys]

    loader = BatchLoader(batch)
    results = await asyncio.gather(loader.load(1), loader.load(2), return_exceptions=True)
    assert results[0] == 1
    assert isinstance(results[1], ValueError)

    async def short(keys: list[int]) -> list[int]:
        return keys[:1]

    results = await asyncio.gather(*map(BatchLoader(short).load, [1, 2]), return_exceptions=True)
    assert [type(r) for r in results] == [TypeError, TypeError]
