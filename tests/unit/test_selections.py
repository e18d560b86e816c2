"""The walk the document checks share: selections in order, each fragment once per key."""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    parse,
)

from wren import _compat
from wren.pipeline.selections import Walker
from wren.schema import build_schema

SCHEMA = _compat.core_schema(build_schema())


def parts(text: str) -> tuple[OperationDefinitionNode, dict[str, FragmentDefinitionNode]]:
    document = parse(text)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return operation, fragments


def test_inline_fragments_are_followed_by_their_selections_on_their_type() -> None:
    operation, fragments = parts(
        '{ node(id: "x") { id ... on User { handle ... { displayName } } ...P } }'
        " fragment P on Post { title }"
    )
    walker: Walker[None] = Walker(fragments, None, SCHEMA)
    [node] = operation.selection_set.selections
    assert isinstance(node, FieldNode)
    assert node.selection_set is not None
    node_type = SCHEMA.get_type("Node")
    seen = [
        (type(selection).__name__, getattr(selection, "name", None) and selection.name.value,
         kind.name if kind else None)
        for selection, kind in walker.each(node.selection_set, node_type)
    ]  # fmt: skip
    assert seen == [
        ("FieldNode", "id", "Node"),
        ("InlineFragmentNode", None, "Node"),
        ("FieldNode", "handle", "User"),
        ("InlineFragmentNode", None, "User"),
        ("FieldNode", "displayName", "User"),
        ("FragmentSpreadNode", "P", "Node"),
    ]
    # Untyped (no schema): the same selections, no types.
    untyped: Walker[None] = Walker(fragments, None)
    assert [kind for _, kind in untyped.each(node.selection_set, None)] == [None] * 6


class Counter(Walker[int]):
    """Fields, fragments inlined; how often each fragment was read, per key."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        super().__init__(fragments, 0)
        self.reads: list[tuple[str, int]] = []

    def count(self, selection_set: SelectionSetNode | None, depth: int) -> int:
        total = 0
        for selection, _ in self.each(selection_set, None):
            if isinstance(selection, FieldNode):
                total += 1 + self.count(selection.selection_set, depth)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.spread(selection.name.value, self.fragment, depth)
            else:
                assert isinstance(selection, InlineFragmentNode)
        return total

    def fragment(self, definition: FragmentDefinitionNode, depth: int) -> int:
        self.reads.append((definition.name.value, depth))
        return self.count(definition.selection_set, depth)


def test_each_fragment_is_read_once_per_key_however_often_it_is_spread() -> None:
    levels = 12  # a walk without the memo reads 2^13 - 1 fragments: it fails, fast
    spreads = " ".join(
        f"fragment F{i} on User {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)
    )
    operation, fragments = parts(
        f"{{ viewer {{ ...F0 }} }} {spreads} fragment F{levels} on User {{ id }}"
    )
    counter = Counter(fragments)
    assert counter.count(operation.selection_set, 0) == 1 + 2**levels
    assert counter.reads == [(f"F{i}", 0) for i in range(levels + 1)]
    # Another key reads them again, once each.
    assert counter.count(operation.selection_set, 1) == 1 + 2**levels
    assert counter.reads[levels + 1 :] == [(f"F{i}", 1) for i in range(levels + 1)]


def test_a_cycle_and_an_unknown_fragment_give_the_empty_result() -> None:
    operation, fragments = parts(
        "{ viewer { ...A ...Missing } } fragment A on User { id ...B } fragment B on User { ...A }"
    )
    counter = Counter(fragments)
    # viewer, A's id; B spreads A while A is read (a cycle): nothing; Missing: nothing.
    assert counter.count(operation.selection_set, 0) == 2
    assert counter.reads == [("A", 0), ("B", 0)]
