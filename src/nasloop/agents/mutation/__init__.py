"""Deterministic LibCST mutation operators over model files (comments and layout survive)."""

from nasloop.agents.mutation.api import applicable_mutations, apply_mutation, operator_summaries
from nasloop.agents.mutation.registry import OPERATORS, Operator, register
from nasloop.agents.mutation.spec import Mutation, MutationError

__all__ = [
    "OPERATORS",
    "Mutation",
    "MutationError",
    "Operator",
    "applicable_mutations",
    "apply_mutation",
    "operator_summaries",
    "register",
]
