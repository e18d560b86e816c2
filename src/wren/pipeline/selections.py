"""The walk over an operation's selections that each check of a document folds.

The fields an operation expands to (`limits.py`), its cost (`cost.py`), its arguments
(`arguments.py`) and its HTTP cache policy (`cache_control.py`) are each a fold of its
selections, fragment spreads inlined. Inlining them as written is exponential: fragments
that each spread the next twice select 2^n fields in a document of n lines. A `Walker` is
linear in the document instead: a fragment is walked at its first spread and what the
check made of it is reused at every other spread (keyed on what the walk inherits, where
the result depends on it), so each fragment is read once per key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from graphql import FragmentDefinitionNode, InlineFragmentNode

if TYPE_CHECKING:
    from graphql import GraphQLNamedType, GraphQLSchema, SelectionNode, SelectionSetNode

T = TypeVar("T")


class Walker(Generic[T]):
    """Selections with the type each is selected on, and each fragment's result, once."""

    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        empty: T,
        schema: GraphQLSchema | None = None,
    ) -> None:
        self.fragments = fragments
        # The result of an unknown fragment, and of one while it is walked (a cycle):
        # validation refuses both, so they only need to stop the walk.
        self.empty = empty
        self.types = schema  # None: selections are not typed (counted before validation)
        self.walked: dict[Hashable, T] = {}

    def each(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> Iterator[tuple[SelectionNode, GraphQLNamedType | None]]:
        """Each selection and the type it is selected on, in document order; an inline
        fragment is followed by its own selections, on its type condition."""
        if selection_set is None:
            return
        for selection in selection_set.selections:
            yield selection, parent
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = parent
                if condition is not None and self.types is not None:
                    target = self.types.get_type(condition.name.value)
                yield from self.each(selection.selection_set, target)

    def spread(self, name: str, walk: Callable[..., T], *inherited: Hashable) -> T:
        """`walk(definition, *inherited)` of the fragment `name`, computed at its first
        spread with what it inherits and reused at every other."""
        key = (name, *inherited) if inherited else name
        if key in self.walked:
            return self.walked[key]
        self.walked[key] = self.empty
        definition = self.fragments.get(name)
        if definition is None:
            return self.empty
        result = walk(definition, *inherited)
        self.walked[key] = result
        return result
