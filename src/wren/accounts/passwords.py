"""argon2id password hashes, computed on a bounded pool of threads of their own.

argon2id with argon2-cffi's defaults, RFC 9106's low-memory profile (t=3, 64 MiB, p=4):
tens of milliseconds of CPU a hash, far too slow to guess passwords at scale, and just as
slow for the server. The hash releases the GIL, so every hash running at once takes a
core away from the event loop: with Python's default pool (up to cores + 4 threads) a
flood of log-ins left queries a sliver of the CPU. WREN_HASH_CONCURRENCY bounds how many
hashes a process computes at once (the others wait their turn off the event loop); the
README gives UserByHandle's p99 under such a flood with and without the bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
T = TypeVar("T")


@cache
def _dummy_hash() -> str:
    return _hasher.hash("not the password of anyone")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_dummy(password: str) -> None:
    with suppress(VerificationError):
        _hasher.verify(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


class Passwords:
    """Hashing and verification off the event loop, at most `concurrency` at once.

    `concurrency` 0 keeps the event loop's default executor (no bound of its own).
    """

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self._pool = (
            ThreadPoolExecutor(concurrency, thread_name_prefix="wren-hash") if concurrency else None
        )

    async def _run(self, function: Callable[..., T], *args: str) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def hash(self, password: str) -> str:
        """The argon2id hash of a password."""
        return await self._run(_hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        """Whether the password matches the hash."""
        return await self._run(_verify, password_hash, password)

    async def verify_nothing(self, password: str) -> None:
        """Spend the time a real verification takes, so unknown handles cannot be told apart."""
        await self._run(_verify_dummy, password)

    def close(self) -> None:
        """Stop the pool's threads (pending hashes finish first)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
