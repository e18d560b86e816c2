"""Tags of a stored answer: what it shows, named so that writes can find it.

| tag           | held by an answer that shows ...                                   |
|---------------|--------------------------------------------------------------------|
| ``Post:5``    | the object with that global id, or anything below it (its counts, |
|               | lists, stats, author's fields: reached through it)                 |
| ``Post``      | a Post (User, Comment) it cannot name (its id is not selected), or |
|               | a lookup that found none (a later write may create it)            |
| ``list:posts``| the membership of a root list (``posts``, ``users``, ``feed``)     |

A field of an object (User.stats, User.posts, Post.likeCount, Post.comments, ...) is
covered by its object's tag: a write that changes such a field invalidates the object
(invalidation.py lists what each mutation invalidates). A write that invalidates
``Post:5`` also invalidates ``Post``, so an answer that shows posts without their ids
(Directory) is never kept past a write to any post. The tags are read from the answer's
data, walked with its operation's selections: aliases and fragments are followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    InlineFragmentNode,
    get_named_type,
    is_abstract_type,
    is_composite_type,
)

from wren.ids import NODE_TYPES, from_global_id

if TYPE_CHECKING:
    from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, SelectionSetNode

# Root lists whose membership writes change, by field.
LIST_TAGS = {"posts": "list:posts", "users": "list:users", "feed": "list:feed"}
POSTS = LIST_TAGS["posts"]
USERS = LIST_TAGS["users"]
FEED = LIST_TAGS["feed"]


def entity(type_name: str, pk: int) -> str:
    """The tag of one object."""
    return f"{type_name}:{pk}"


def changed(type_name: str, pks: Iterable[int]) -> list[str]:
    """What a write to these objects invalidates: each of them, and their type's tag."""
    tags = [entity(type_name, pk) for pk in pks]
    return [*tags, type_name] if tags else []


def tags_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    data: dict[str, Any],
) -> list[str]:
    """The tags of one query's answer."""
    assert schema.query_type is not None
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments)
    walker.object(operation.selection_set, [schema.query_type], data, root=True)
    return sorted(walker.tags)


class _Walker:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments
        self.tags: set[str] = set()

    def _fields(
        self, selection_set: SelectionSetNode, kinds: list[GraphQLObjectType]
    ) -> Iterable[tuple[FieldNode, list[GraphQLObjectType]]]:
        """Every field selected (through fragments), with the types it may be selected on."""
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                yield selection, kinds
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                narrowed = kinds if condition is None else self._narrow(kinds, condition.name.value)
                yield from self._fields(selection.selection_set, narrowed)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    narrowed = self._narrow(kinds, fragment.type_condition.name.value)
                    yield from self._fields(fragment.selection_set, narrowed)

    def _narrow(self, kinds: list[GraphQLObjectType], name: str) -> list[GraphQLObjectType]:
        named = self.schema.get_type(name)
        if isinstance(named, GraphQLObjectType):
            return [k for k in kinds if k is named]
        return [k for k in kinds if named is not None and self.schema.is_sub_type(named, k)]  # type: ignore[arg-type]

    def _possible(self, named: Any) -> list[GraphQLObjectType]:
        if is_abstract_type(named):
            return list(self.schema.get_possible_types(named))
        return [named]

    def object(
        self,
        selection_set: SelectionSetNode,
        kinds: list[GraphQLObjectType],
        value: dict[str, Any],
        *,
        root: bool = False,
    ) -> None:
        named_by_id = False
        for node, on in self._fields(selection_set, kinds):
            key = node.alias.value if node.alias else node.name.value
            if key not in value or not on:
                continue
            name = node.name.value
            child = value[key]
            if name == "id" and isinstance(child, str):
                decoded = from_global_id(child)
                if decoded is not None:
                    self.tags.add(entity(*decoded))
                    named_by_id = True
                continue
            if root and name in LIST_TAGS:
                self.tags.add(LIST_TAGS[name])
            definition = on[0].fields.get(name)
            if definition is None or node.selection_set is None:
                continue
            named = get_named_type(definition.type)
            if is_composite_type(named):
                self.value(node.selection_set, self._possible(named), child)
        if not named_by_id and not root:
            self.tags.update(k.name for k in kinds if k.name in NODE_TYPES)

    def value(
        self, selection_set: SelectionSetNode, kinds: list[GraphQLObjectType], value: Any
    ) -> None:
        if value is None:
            # Nothing found: a write may create it (a post, a user by handle).
            self.tags.update(k.name for k in kinds if k.name in NODE_TYPES)
        elif isinstance(value, list):
            for item in value:
                self.value(selection_set, kinds, item)
        elif isinstance(value, dict):
            self.object(selection_set, kinds, value)
