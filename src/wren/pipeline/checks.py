"""What the pipeline checks of one operation on every request, compiled together once.

Cost, variables, arguments and cache policy are each compiled once per document and
operation (cost.py, variables.py, arguments.py, cache_control.py); kept in one object,
a request finds them with one lookup in the document's cache instead of four.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wren.pipeline.arguments import ArgumentPlan, compile_arguments
from wren.pipeline.cache_control import CachePolicy, compile_policy
from wren.pipeline.cost import CostPlan, compile_cost
from wren.pipeline.variables import VariablePlan, compile_variables

if TYPE_CHECKING:
    from graphql import FragmentDefinitionNode, GraphQLSchema, OperationDefinitionNode


@dataclass(frozen=True, slots=True)
class Checks:
    """The compiled checks of one operation of a validated document."""

    cost: CostPlan
    variables: VariablePlan
    arguments: ArgumentPlan
    policy: CachePolicy


def compile_checks(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
) -> Checks:
    """Every check of one operation, compiled."""
    return Checks(
        compile_cost(schema, operation, fragments),
        compile_variables(schema, operation, fragments),
        compile_arguments(schema, operation, fragments),
        compile_policy(schema, operation, fragments),
    )
