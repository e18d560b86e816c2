"""Trusted documents: operations registered ahead of time, the only ones run in trusted mode.

Each document is registered under the hash of its file text, of its printed form, and of
its printed form with `__typename` added the way Apollo Client adds it (what Apollo
Client's persisted-queries link hashes with its default cache); all map to the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    NameNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Visitor,
    print_ast,
    visit,
)

from wren import _compat
from wren.cache.keys import DocumentKeys
from wren.pipeline.documents import Documents
from wren.pipeline.persisted import sha256_hex

if TYPE_CHECKING:
    from pathlib import Path

    from wren.cache.client import RedisClient
    from wren.settings import Settings


class _AddTypename(Visitor):
    """Apollo Client's addTypenameToDocument: `__typename` last in every selection set."""

    def enter_selection_set(
        self, node: SelectionSetNode, _key: Any, parent: Any, *_: Any
    ) -> SelectionSetNode | None:
        if isinstance(parent, OperationDefinitionNode) or not node.selections:
            return None
        if any(
            isinstance(selection, FieldNode) and selection.name.value.startswith("__")
            for selection in node.selections
        ):
            return None
        if isinstance(parent, FieldNode) and any(
            directive.name.value == "export" for directive in parent.directives or ()
        ):
            return None
        typename = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())
        return SelectionSetNode(selections=(*node.selections, typename))


def client_forms(text: str, document: DocumentNode) -> list[str]:
    """The texts a client may hash for a document: as written, printed, as Apollo sends it."""
    return [text, print_ast(document), print_ast(visit(document, _AddTypename()))]


@dataclass
class Registration:
    """What `wren persist` registered, and what it refused with the reasons."""

    registered: dict[Path, list[str]] = field(default_factory=dict)
    refused: dict[Path, list[str]] = field(default_factory=dict)


def read_documents(directory: Path) -> dict[Path, str]:
    """The text of every .graphql file under `directory`, in path order."""
    return {path: path.read_text(encoding="utf-8") for path in sorted(directory.rglob("*.graphql"))}


async def register(settings: Settings, redis: RedisClient, files: dict[Path, str]) -> Registration:
    """Validate each document and register the valid ones."""
    from wren.schema import build_schema

    documents = Documents(_compat.core_schema(build_schema()), settings)
    keys = DocumentKeys(settings.persisted_key_prefix)
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
        hashes = sorted({sha256_hex(form) for form in client_forms(text, document.node)})
        async with redis.pipeline(transaction=False) as pipe:
            for digest in hashes:
                pipe.set(keys.trusted(digest), text)
            await pipe.execute()
        report.registered[path] = hashes
    return report
