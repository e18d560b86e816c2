"""What a document's literal values hold, asked when an operation is checked and when its
plan is compiled (a leaf module: both the pipeline and the compiled plan import it)."""

from __future__ import annotations

from graphql import ListValueNode, ObjectValueNode, ValueNode, VariableNode


def has_variable(value: ValueNode) -> bool:
    """Whether a literal holds a variable anywhere, in a list or an input object included."""
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(has_variable(item) for item in value.values)
    if isinstance(value, ObjectValueNode):
        return any(has_variable(item.value) for item in value.fields)
    return False
