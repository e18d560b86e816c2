"""What bounds a document: the fields it expands to (checked before validation), and the
validation rules for nesting depth, aliases and directives.

Each check is linear in the document's size: a fragment is measured once and its measure
reused at every spread, so fragments that each spread the next twice (2^n fields once
expanded, in a document of n lines) cost n steps to measure and are refused as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)

from wren.pipeline.errors import limit_error
from wren.pipeline.selections import Walker

if TYPE_CHECKING:
    from graphql import DirectiveNode, ValidationContext

    from wren.settings import Settings

TOO_MANY_TOKENS = "TOO_MANY_TOKENS"
QUERY_TOO_DEEP = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES = "TOO_MANY_ALIASES"
TOO_MANY_DIRECTIVES = "TOO_MANY_DIRECTIVES"
TOO_MANY_FIELDS = "TOO_MANY_FIELDS"

# Counts above this are not reported as numbers (JSON clients read them as doubles).
_MAX_REPORTED = 2**53 - 1


class _FieldCounter(Walker[int]):
    """Fields a selection set expands to, every fragment spread inlined, leaves included."""

    def count(self, selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection, _ in self.each(selection_set, None):
            if isinstance(selection, FieldNode):
                total += 1 + self.count(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, self._fragment)
        return total

    def _fragment(self, definition: FragmentDefinitionNode) -> int:
        return self.count(definition.selection_set)


def check_fields(document: DocumentNode, limit: int) -> list[GraphQLError]:
    """TOO_MANY_FIELDS for an operation that expands to more than `limit` fields.

    Run before validation: validation and execution walk the expanded operation, so a
    document that expands too far is refused before either of them starts.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    counter = _FieldCounter(fragments, 0)
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        try:
            fields = counter.count(definition.selection_set)
        except RecursionError:
            fields = _MAX_REPORTED + 1  # fragments spread within fragments too deeply
        if fields > limit:
            shown = f"{fields:,}" if fields <= _MAX_REPORTED else f"more than {_MAX_REPORTED:,}"
            return [
                limit_error(
                    f"The operation expands to {shown} fields once its fragments are "
                    f"spread; at most {limit:,} are allowed.",
                    TOO_MANY_FIELDS,
                    fields=fields if fields <= _MAX_REPORTED else None,
                    limit=limit,
                )
            ]
    return []


class _DepthRule(ValidationRule):
    """Each operation nests fields at most `limit` levels deep (introspection aside)."""

    limit = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        # Depth of each fragment, computed once: a fragment spread many times costs one walk.
        self._fragments: dict[str, int] = {}

    def _depth(self, selection_set: SelectionSetNode | None, visiting: frozenset[str]) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value.startswith("__"):
                    continue
                depth = 1 + self._depth(selection.selection_set, visiting)
            elif isinstance(selection, InlineFragmentNode):
                depth = self._depth(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                depth = self._fragment_depth(selection.name.value, visiting)
            deepest = max(deepest, depth)
        return deepest

    def _fragment_depth(self, name: str, visiting: frozenset[str]) -> int:
        if name in self._fragments:
            return self._fragments[name]
        fragment = self.context.get_fragment(name)
        if fragment is None or name in visiting:
            return 0  # unknown or cyclic: other rules report it
        depth = self._depth(fragment.selection_set, visiting | {name})
        self._fragments[name] = depth
        return depth

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        depth = self._depth(node.selection_set, frozenset())
        if depth > self.limit:
            self.report_error(
                limit_error(
                    f"The operation nests fields {depth} levels deep; "
                    f"at most {self.limit} are allowed.",
                    QUERY_TOO_DEEP,
                    depth=depth,
                    limit=self.limit,
                )
            )


class _AliasRule(ValidationRule):
    """A document uses at most `limit` aliases."""

    limit = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.count = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        if node.alias is not None:
            self.count += 1

    def leave_document(self, node: DocumentNode, *_: Any) -> None:
        if self.count > self.limit:
            self.report_error(
                limit_error(
                    f"The document uses {self.count} aliases; at most {self.limit} are allowed.",
                    TOO_MANY_ALIASES,
                    aliases=self.count,
                    limit=self.limit,
                )
            )


class _DirectiveRule(ValidationRule):
    """A document uses at most `limit` directives."""

    limit = 0

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self.count = 0

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        self.count += 1

    def leave_document(self, node: DocumentNode, *_: Any) -> None:
        if self.count > self.limit:
            self.report_error(
                limit_error(
                    f"The document uses {self.count} directives; at most {self.limit} are allowed.",
                    TOO_MANY_DIRECTIVES,
                    directives=self.count,
                    limit=self.limit,
                )
            )


def limit_rules(settings: Settings) -> list[type[ValidationRule]]:
    """The validation rules enforcing the configured limits."""
    depth = type("MaxDepthRule", (_DepthRule,), {"limit": settings.max_depth})
    aliases = type("MaxAliasesRule", (_AliasRule,), {"limit": settings.max_aliases})
    directives = type("MaxDirectivesRule", (_DirectiveRule,), {"limit": settings.max_directives})
    return [depth, aliases, directives]
