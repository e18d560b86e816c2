"""Trusted documents: operations registered ahead of time, the only ones run in trusted mode.

Each document is registered under the hash of its file text and under the hash of its
printed form, which is what Apollo Client hashes; both map to the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphql import print_ast

from wren.http.documents import Documents
from wren.http.persisted import sha256_hex, trusted_key

if TYPE_CHECKING:
    from pathlib import Path

    from redis.asyncio import Redis

    from wren.settings import Settings


@dataclass
class Registration:
    """What `wren persist` registered, and what it refused with the reasons."""

    registered: dict[Path, list[str]] = field(default_factory=dict)
    refused: dict[Path, list[str]] = field(default_factory=dict)


def read_documents(directory: Path) -> dict[Path, str]:
    """The text of every .graphql file under `directory`, in path order."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(directory.rglob("*.graphql"))}


async def register(settings: Settings, redis: Redis, files: dict[Path, str]) -> Registration:
    """Validate each document and register the valid ones."""
    from wren.schema import build_schema

    documents = Documents(build_schema()._schema, settings)
    report = Registration()
    for path, text in files.items():
        document = documents.get(text)
        errors = (
            [document.syntax_error]
            if document.syntax_error is not None
            else documents.validate(document)
        )
        if errors:
            report.refused[path] = [error.message for error in errors]
            continue
        assert document.node is not None
        hashes = sorted({sha256_hex(text), sha256_hex(print_ast(document.node))})
        async with redis.pipeline(transaction=False) as pipe:
            for digest in hashes:
                pipe.set(trusted_key(settings, digest), text)
            await pipe.execute()
        report.registered[path] = hashes
    return report
