"""Password hashes, and the bound on how many are computed at once."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from wren.accounts import passwords
from wren.accounts.passwords import Passwords, needs_rehash


async def test_passwords_hash_and_verify() -> None:
    pool = Passwords(1)
    try:
        hashed = await pool.hash("correct horse")
        assert hashed.startswith("$argon2id$")
        assert await pool.verify(hashed, "correct horse")
        assert not await pool.verify(hashed, "correct horse ")
        assert not await pool.verify("not a hash", "correct horse")
        await pool.verify_nothing("anything")
        assert not needs_rehash(hashed)
        assert needs_rehash("not a hash")
    finally:
        pool.close()


@pytest.mark.parametrize(("concurrency", "bounded"), [(1, True), (2, True), (0, False)])
async def test_hashes_at_once_stay_within_the_bound(
    monkeypatch: pytest.MonkeyPatch, concurrency: int, bounded: bool
) -> None:
    lock = threading.Lock()
    running, most = 0, 0

    def slow_verify(_hash: str, _password: str) -> bool:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return False

    monkeypatch.setattr(passwords, "_verify", slow_verify)
    pool = Passwords(concurrency)
    try:
        await asyncio.gather(*(pool.verify("h", "p") for _ in range(6)))
    finally:
        pool.close()
    if bounded:
        assert most == concurrency
    else:
        assert most > 2
