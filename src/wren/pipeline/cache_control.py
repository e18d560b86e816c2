"""HTTP cache policies: how long a query's answer may be reused, and by whom.

Each type and field may carry a policy, as Apollo Server's `@cacheControl` does: a
`max_age` in seconds and a scope, `PUBLIC` (any cache, a CDN included, may keep it) or
`PRIVATE` (only the viewer's own browser may: the answer depends on who asks). A field
takes its own policy, else the policy of the type it returns, else its parent's; a root
field with neither has max-age 0. An operation's policy is the most restrictive of every
field it selects: the smallest max-age, and `PRIVATE` if any field is. The document is
walked once per operation (each fragment once, however often it is spread) and the result
kept with the cached document; GET requests and the response cache ask for it.

The tables below are the whole policy; the README's "HTTP caching" section lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
)

from wren.pipeline.selections import Walker


class Scope(Enum):
    """Who may keep an answer: any cache, or only the viewer's own."""

    PUBLIC = "PUBLIC"
    PRIVATE = "PRIVATE"


@dataclass(frozen=True, slots=True)
class Hint:
    """A type's or field's policy; None leaves that part to the parent."""

    max_age: int | None = None
    scope: Scope | None = None


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """An operation's policy: what its GET response's Cache-Control says."""

    max_age: int
    private: bool

    def header(self) -> str:
        """The Cache-Control value of a successful response under this policy."""
        if self.max_age <= 0:
            return "no-store"
        return f"{'private' if self.private else 'public'}, max-age={self.max_age}"


NO_STORE = "no-store"

# Objects change rarely once written; counts and lists change with every like and post.
TYPE_HINTS: dict[str, Hint] = {
    "User": Hint(max_age=60),
    "Post": Hint(max_age=60),
    "Comment": Hint(max_age=60),
    # Served from Wren's own cache, which writes refresh at once; HTTP caches lag by this.
    "UserStats": Hint(max_age=30),
}

FIELD_HINTS: dict[tuple[str, str], Hint] = {
    ("Query", "node"): Hint(max_age=60),
    ("Query", "users"): Hint(max_age=30),
    ("Query", "posts"): Hint(max_age=10),
    ("Query", "feed"): Hint(max_age=10, scope=Scope.PRIVATE),
    ("Query", "viewer"): Hint(scope=Scope.PRIVATE),
    ("User", "posts"): Hint(max_age=10),
    ("User", "followers"): Hint(max_age=30),
    ("User", "following"): Hint(max_age=30),
    ("User", "recommendedUsers"): Hint(max_age=60),
    ("Post", "comments"): Hint(max_age=10),
    ("Post", "likeCount"): Hint(max_age=10),
    ("Post", "viewerHasLiked"): Hint(scope=Scope.PRIVATE),
}


def compile_policy(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> CachePolicy:
    """The policy of one operation (queries only: anything else is never cached)."""
    if operation.operation.value != "query" or schema.query_type is None:
        return CachePolicy(0, False)
    walker = _Walker(schema, fragments)
    max_age, private = walker.selections(operation.selection_set, schema.query_type, None)
    return CachePolicy(0 if max_age is None else max_age, private)


# (smallest max-age seen, None when no field set one; whether any field is private)
_Summary = tuple[int | None, bool]


def _meet(a: _Summary, b: _Summary) -> _Summary:
    ages = [age for age in (a[0], b[0]) if age is not None]
    return (min(ages) if ages else None, a[1] or b[1])


class _Walker(Walker[_Summary]):
    def __init__(self, schema: GraphQLSchema, fragments: dict[str, FragmentDefinitionNode]):
        super().__init__(fragments, (None, False), schema)
        self.schema = schema

    def selections(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, inherited: int | None
    ) -> _Summary:
        summary: _Summary = (None, False)
        for selection, kind in self.each(selection_set, parent):
            if isinstance(selection, FieldNode):
                for object_type in self._types(kind):
                    summary = _meet(summary, self.field(selection, object_type, inherited))
            elif isinstance(selection, FragmentSpreadNode):
                # A fragment's summary depends on the max-age it inherits; memoized on both.
                name = selection.name.value
                summary = _meet(summary, self.spread(name, self.fragment, inherited))
        return summary

    def fragment(self, fragment: FragmentDefinitionNode, inherited: int | None) -> _Summary:
        kind = self.schema.get_type(fragment.type_condition.name.value)
        if kind is None:  # validation refuses it first
            return (None, False)
        return self.selections(fragment.selection_set, kind, inherited)

    def field(self, node: FieldNode, parent: GraphQLObjectType, inherited: int | None) -> _Summary:
        name = node.name.value
        if name.startswith("__"):
            return (None, False)
        definition = parent.fields.get(name)
        if definition is None:
            return (None, False)
        named = get_named_type(definition.type)
        field_hint = FIELD_HINTS.get((parent.name, name), Hint())
        type_hint = TYPE_HINTS.get(named.name, Hint())
        max_age = field_hint.max_age
        if max_age is None:
            max_age = type_hint.max_age
        if max_age is None:
            # Leaves and wrappers (connections, edges) inherit; root fields start at 0.
            max_age = 0 if parent is self.schema.query_type else inherited
        private = Scope.PRIVATE in (field_hint.scope, type_hint.scope)
        summary: _Summary = (max_age, private)
        if node.selection_set is not None:
            summary = _meet(summary, self.selections(node.selection_set, named, max_age))
        return summary

    def _types(self, named: GraphQLNamedType | None) -> list[GraphQLObjectType]:
        """The object types a selection on `named` may meet (every one, for an upper bound)."""
        if isinstance(named, GraphQLObjectType):
            return [named]
        if isinstance(named, GraphQLInterfaceType | GraphQLUnionType):
            return list(self.schema.get_possible_types(named))
        return []
