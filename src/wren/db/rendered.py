"""Objects rendered as JSON by PostgreSQL, in the statement that reads their rows.

A level of objects whose selection is only columns of its rows (and of the rows joined
to them, like a comment's author) costs the fast path no Python object per row when
PostgreSQL writes each object's JSON: one text column per row, embedded in the response
as it is (an orjson fragment). The text must be what graphql-core's answer encodes to,
byte for byte, so every value is written as orjson writes it:

- strings with `to_json(text)`, which escapes exactly what orjson escapes (`"`, `\\`, and
  control characters, as `\\n` or `\\u001f`; nothing else: non-ASCII stays UTF-8);
- DateTime as Python's `datetime.isoformat()` of the UTC value asyncpg returns: seconds,
  six digits of microseconds only when there are some, then `+00:00`;
- ids and cursors in wren.ids' encoding (base64url without padding of `Type:pk` and
  `k:micros:pk`), which PostgreSQL's `encode(..., 'base64')` gives once `+` and `/` are
  replaced and the `=` padding removed (no line break under 76 characters: these are
  under 40). `replace` of one character costs a fraction of `translate` and of `rtrim`
  (both walk the text character by character in a multibyte encoding), and
  `decode(..., 'escape')` makes the bytes of an ASCII text without backslashes (all an id
  or cursor holds) cheaper than `convert_to` (an encoding looked up by name per call):
  Timeline 4,871,768 -> 4,227,532 PostgreSQL instructions per request. Their numbers are
  cast to text before they are concatenated: `text || bigint` looks the bigint's output
  function up on every call, which made an id cost PostgreSQL about 36,000 more
  instructions per row (callgrind, a single-user backend);
- keys and punctuation without spaces (json_build_object would add some), in the order
  of the selection.

`tests/integration/test_rendered.py` compares these with Python's encoders over edge
cases (every escape, microseconds or none, years before 1000).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wren.level_form import Selected
from wren.validation import MAX_FIRST

Value = Callable[[str], str]  # table alias -> SQL expression of the value's JSON text


def json_string(column: str, *, nullable: bool = False) -> Value:
    """A text column as a JSON string (`null` for NULL when the column may be NULL)."""
    if nullable:
        return lambda t: f"COALESCE(to_json({t}.{column})::text, 'null')"
    return lambda t: f"to_json({t}.{column})::text"


def count_of(table: str, column: str) -> Value:
    """How many `table` rows have `column` = the row's id, as a JSON number: a subquery
    through `column`'s index, instead of a count statement for the level."""
    return lambda t: f"(SELECT count(*) FROM {table} WHERE {table}.{column} = {t}.id)::text"


def _b64(text: str) -> str:
    # `text` is ASCII without backslashes (a type name or `k`, digits, `:` and `-`), so
    # its escape-format bytea is its UTF-8; `=` is only ever padding in base64.
    encoded = f"encode(decode({text}, 'escape'), 'base64')"
    return f"replace(replace(replace({encoded}, '+', '-'), '/', '_'), '=', '')"


def _literal(piece: str) -> bool:
    return len(piece) >= 2 and piece[0] == piece[-1] == "'" and "'" not in piece[1:-1]


class Concat(str):
    """The SQL of a concatenation of texts, its pieces kept: a concatenation of
    concatenations is written flat and its adjacent literals merged, since every `||`
    copies the whole text so far (Directory: two fewer copies per comment)."""

    pieces: tuple[str, ...]  # SQL expressions; literals are SQL string literals

    def __new__(cls, *parts: str) -> Concat:
        pieces: list[str] = []
        for part in parts:
            for piece in part.pieces if isinstance(part, Concat) else (part,):
                if pieces and _literal(piece) and _literal(pieces[-1]):
                    pieces[-1] = pieces[-1][:-1] + piece[1:]
                else:
                    pieces.append(piece)
        sql = pieces[0] if len(pieces) == 1 else "(" + " || ".join(pieces) + ")"
        self = super().__new__(cls, sql)
        self.pieces = tuple(pieces)
        return self


def literal(json: str) -> str:
    """JSON text as an SQL literal (keys, punctuation, type names: never a quote)."""
    assert "'" not in json
    return f"'{json}'"


def iso_datetime(expression: str) -> str:
    """A timestamptz as the JSON string of its `datetime.isoformat()` in UTC."""
    # Formatted once, microseconds included; `.000000` (the only `.` of the text) dropped.
    utc = f"({expression} AT TIME ZONE 'UTC')"
    return Concat(
        literal('"'),
        f"replace(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '')",
        literal('+00:00"'),
    )


def json_datetime(column: str) -> Value:
    """A non-null timestamptz column as a DateTime."""
    return lambda t: iso_datetime(f"{t}.{column}")


def global_id(type_name: str, column: str = "id") -> Value:
    """The opaque global id of a row (wren.ids.to_global_id)."""

    def value(t: str) -> str:
        encoded = _b64(f"'{type_name}:' || {t}.{column}::text")
        return Concat(literal('"'), encoded, literal('"'))

    return value


def cursor(at: str, pk: str) -> str:
    """The JSON string of a keyset cursor (wren.ids.encode_cursor) of (at, pk)."""
    micros = f"(extract(epoch FROM {at}) * 1000000)::bigint"
    encoded = _b64(f"'k:' || {micros}::text || ':' || {pk}::text")
    return Concat(literal('"'), encoded, literal('"'))


@dataclass(frozen=True)
class Rendered:
    """How a GraphQL object type's fields are written from a row under a table alias:
    leaves from its columns, objects from rows joined under their own aliases."""

    type_name: str
    alias: str
    leaves: Mapping[str, Value]
    objects: Mapping[str, tuple[Rendered, str]] = field(default_factory=dict)
    # Connection fields, rendered as a subquery each (filled in once both ends exist).
    connections: dict[str, Nested] = field(default_factory=dict)

    def json(self, selection: Sequence[Selected]) -> str | None:
        """The SQL expression of the selection's JSON object, or None when a field of
        it is not a column of these rows (or takes arguments)."""
        parts: list[str] = []
        for selected in selection:
            if selected.arguments and selected.name not in self.connections:
                return None
            if selected.name == "__typename":
                value: str | None = literal(f'"{self.type_name}"')
            elif selected.children is None and selected.name in self.leaves:
                value = self.leaves[selected.name](self.alias)
            elif selected.children is not None and selected.name in self.objects:
                rendered, alias = self.objects[selected.name]
                value = rendered.at(alias).json(selected.children)
            elif selected.children is not None and selected.name in self.connections:
                value = self.connections[selected.name].json(self.alias, selected)
            else:
                return None
            if value is None:
                return None
            # Response keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*): safe in a literal.
            parts += [literal(f'{"," if parts else "{"}"{selected.key}":'), value]
        return Concat(*parts, literal("}"))

    def at(self, alias: str) -> Rendered:
        """The same type read under another table alias."""
        return Rendered(self.type_name, alias, self.leaves, self.objects, self.connections)


@dataclass(frozen=True)
class Nested:
    """A connection field of a rendered object (first page, `first` a literal), written
    as a correlated subquery of the object's row: each page read through the index on
    (parent, sort key), as a level's statement reads it, but in the same statement as
    the parents, so that a whole tree of lists is one statement.

    Only `totalCount`, `nodes` and `edges` render (pageInfo needs a row past the page).
    """

    type_name: str  # the connection's GraphQL type
    node: Rendered
    source: str  # the rows' table and alias (the node's)
    joins: Mapping[str, str]  # alias of a joined object -> its join, added when used
    parent: str  # the rows' column holding the parent's id
    at: str
    pk: str
    descending: bool

    def json(self, outer: str, selected: Selected) -> str | None:
        """The connection's JSON for the row under alias `outer`, or None."""
        assert selected.children is not None
        values = dict(selected.values) if selected.values is not None else None
        if values is None or values.get("after") is not None:
            return None
        first = values.get("first")
        if type(first) is not int or not 0 <= first <= MAX_FIRST:
            return None
        parts: list[str] = []
        for child in selected.children:
            if child.arguments:
                return None
            if child.name == "__typename":
                value: str | None = literal(f'"{self.type_name}"')
            elif child.name == "totalCount":
                table = self.source.split()[0]
                column = self.parent.split(".")[1]
                value = count_of(table, column)(outer)
            elif child.name in ("nodes", "edges") and child.children is not None:
                value = self._list(outer, first, child)
            else:
                return None
            if value is None:
                return None
            parts += [literal(f'{"," if parts else "{"}"{child.key}":'), value]
        if not parts:
            return None
        return Concat(*parts, literal("}"))

    def _list(self, outer: str, first: int, selected: Selected) -> str | None:
        assert selected.children is not None
        node = self.node
        if selected.name == "edges":
            node = edge(node, self.at, self.pk)
        json = node.json(selected.children)
        if json is None:
            return None
        used = _joined(self.node, selected.children, edges=selected.name == "edges")
        joins = "".join(f" {join}" for alias, join in self.joins.items() if alias in used)
        direction = "DESC" if self.descending else "ASC"
        # ARRAY(...) keeps the subquery's order without sorting again (string_agg's
        # ORDER BY sorted each page in a tuplesort: a tenth of Directory's instructions).
        page = (
            f"array_to_string(ARRAY(SELECT {json} FROM {self.source}{joins}"
            f" WHERE {self.parent} = {outer}.id"
            f" ORDER BY {self.at} {direction}, {self.pk} {direction} LIMIT {first}), ',')"
        )
        return Concat(literal("["), page, literal("]"))


USER = Rendered(
    "User",
    "u",
    {
        "id": global_id("User"),
        "handle": json_string("handle"),
        "displayName": json_string("display_name"),
        "bio": json_string("bio", nullable=True),
        "createdAt": json_datetime("created_at"),
    },
)
# Posts and comments are read with their author joined as `a` (queries.py).
POST = Rendered(
    "Post",
    "p",
    {
        "id": global_id("Post"),
        "title": json_string("title"),
        "body": json_string("body"),
        "createdAt": json_datetime("created_at"),
        "likeCount": count_of("likes", "post_id"),
    },
    {"author": (USER, "a")},
)
COMMENT = Rendered(
    "Comment",
    "c",
    {
        "id": global_id("Comment"),
        "body": json_string("body"),
        "createdAt": json_datetime("created_at"),
    },
    {"author": (USER, "a")},
)


def edge(node: Rendered, at: str, pk: str) -> Rendered:
    """An Edge of a list sorted by (at, pk), its node rendered as `node`."""
    leaves = {"cursor": lambda _alias: cursor(at, pk)}
    return Rendered(f"{node.type_name}Edge", "", leaves, {"node": (node, node.alias)})


def _joined(node: Rendered, selection: Sequence[Selected], *, edges: bool) -> set[str]:
    """The aliases of the objects joined to `node` that a selection of it reads."""
    if edges:
        found: set[str] = set()
        for selected in selection:
            if selected.name == "node" and selected.children is not None:
                found |= _joined(node, selected.children, edges=False)
        return found
    return {node.objects[s.name][1] for s in selection if s.name in node.objects}


USER.connections["posts"] = Nested(
    "PostConnection",
    POST,
    "posts p",
    {"a": "JOIN users a ON a.id = p.author_id"},
    "p.author_id",
    "p.created_at",
    "p.id",
    descending=True,
)
POST.connections["comments"] = Nested(
    "CommentConnection",
    COMMENT,
    "comments c",
    {"a": "JOIN users a ON a.id = c.author_id"},
    "c.post_id",
    "c.created_at",
    "c.id",
    descending=False,
)
