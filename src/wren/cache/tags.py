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
data, walked with a plan compiled once per operation (`compile_tags`, kept with the
cached document): aliases and fragments are followed, and a part of the answer that
selects no id anywhere (all of Directory) is not walked at all: it takes the type tags
of every object type it may show. Walking Directory's 1,600 objects for their types cost
more than running it.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
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

from wren.ids import NODE_TYPES

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


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _tag_of(global_id: Any) -> str | None:
    """The tag of an id in an answer: its decoded text (``Post:5``)."""
    # Ids in an answer are Wren's own encoding (wren.ids.to_global_id), so the strict
    # decoder's canonical-form check is not needed here: this is a third of its cost,
    # and the tags of a Timeline page decode about 100 of them.
    if not isinstance(global_id, str):
        return None
    try:
        text = binascii.a2b_base64(global_id.encode().translate(_FROM_URLSAFE) + b"==").decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    type_name, _, pk = text.partition(":")
    return text if type_name in NODE_TYPES and pk.isdigit() else None


def tags_of(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    data: dict[str, Any],
) -> list[str]:
    """The tags of one query's answer (compiling its plan: tests and one-offs)."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    return compile_tags(schema, operation, fragments).tags(data)


@dataclass(frozen=True, slots=True)
class TagPlan:
    """How to read the tags of one selection set's values."""

    # Response keys that select `id`; the node types a value may be; root list tags.
    ids: tuple[str, ...]
    types: frozenset[str]
    lists: frozenset[str]
    children: tuple[tuple[str, TagPlan], ...]
    # Without any id below: every tag the values may need, added without walking them.
    fixed: frozenset[str] | None

    def tags(self, data: dict[str, Any]) -> list[str]:
        """The tags of an answer's data (this is the root plan)."""
        found: set[str] = set(self.lists)
        for key, child in self.children:
            if key in data:
                child.walk(data[key], found)
        return sorted(found)

    def every_type(self) -> set[str]:
        """The type tags of every object this selection and those below it may show."""
        found = set(self.types) if self.fixed is None else set(self.fixed)
        for _key, child in self.children:
            found |= child.every_type()
        return found

    def walk(self, value: Any, found: set[str]) -> None:
        """Add the tags of one value (an object, a list of them, or null)."""
        if self.fixed is not None:
            found.update(self.fixed)
        elif value is None:
            found.update(self.types)  # nothing found: a write may create it
        elif type(value) is list:
            for item in value:
                if type(item) is orjson.Fragment:
                    # Items written by PostgreSQL (db/rendered.py): not read back, so the
                    # answer takes the type tag of every object they may show, as unnamed
                    # objects do.
                    found.update(self.every_type())
                else:
                    self.walk(item, found)
        elif type(value) is orjson.Fragment:
            # One object rendered whole (a root lookup, schema/query.py): small, so read
            # back (only when an answer is stored) and named as a built one is.
            self.walk(orjson.loads(orjson.dumps(value)), found)
        else:
            named = False
            for key in self.ids:
                tag = _tag_of(value.get(key))
                if tag is not None:
                    found.add(tag)
                    named = True
            if not named:
                found.update(self.types)
            for key, child in self.children:
                if key in value:
                    child.walk(value[key], found)


def compile_tags(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> TagPlan:
    """The tag plan of one query operation."""
    assert schema.query_type is not None
    return _Compiler(schema, fragments).plan(operation.selection_set, [schema.query_type], True)


class _Compiler:
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        self.schema = schema
        self.fragments = fragments

    def plan(
        self, selection_set: SelectionSetNode, kinds: list[GraphQLObjectType], root: bool = False
    ) -> TagPlan:
        ids: list[str] = []
        lists: set[str] = set()
        children: list[tuple[str, TagPlan]] = []
        for node, on in self._fields(selection_set, kinds):
            if not on:
                continue
            key = node.alias.value if node.alias else node.name.value
            name = node.name.value
            if name == "id":
                ids.append(key)
                continue
            if root and name in LIST_TAGS:
                lists.add(LIST_TAGS[name])
            definition = on[0].fields.get(name)
            if definition is None or node.selection_set is None:
                continue
            named = get_named_type(definition.type)
            if is_composite_type(named):
                children.append((key, self.plan(node.selection_set, self._possible(named))))
        types = frozenset(k.name for k in kinds if k.name in NODE_TYPES)
        fixed = None
        if not root and not ids and all(child.fixed is not None for _, child in children):
            fixed = types.union(*(child.fixed or () for _, child in children))
        return TagPlan(tuple(ids), types, frozenset(lists), tuple(children), fixed)

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
