"""Recipe mutations as a MutationSpace, and a space that offers two spaces' operators.

Recipe rewrites are static (LibCST on the file, nothing executed), so they apply to any
candidate, LLM-written ones included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasloop.agents.mutation.spec import MutationError
from nasloop.tasks.recipes.vocab import LOSS_KINDS, LOSS_OP, OPTIMIZER_OP, OPTIMIZERS

if TYPE_CHECKING:
    from nasloop.agents.mutation.spec import Mutation
    from nasloop.tasks.base import MutationSpace

SUMMARIES = {
    LOSS_OP: "set the loss in train_setup: " + ", ".join(LOSS_KINDS),
    OPTIMIZER_OP: "set the optimizer in train_setup: " + ", ".join(OPTIMIZERS),
}


class RecipeSpace:
    """`loss(kind=...)` and `optimizer(kind=...)` (`nasloop.tasks.recipes.ops`)."""

    def __init__(self, allowed: frozenset[str] = frozenset()) -> None:
        self.allowed = allowed  # empty: both operators

    def operators(self) -> dict[str, str]:
        return {k: v for k, v in SUMMARIES.items() if not self.allowed or k in self.allowed}

    def propose(self, code: str) -> list[Mutation]:
        from nasloop.tasks.recipes.ops import recipe_mutations

        return [m for m in recipe_mutations(code) if m.op in self.operators()]

    def apply(self, code: str, mutation: Mutation) -> str:
        from nasloop.tasks.recipes.ops import apply_recipe

        new = apply_recipe(code, mutation)
        if new == code:
            raise MutationError(f"{mutation.describe()} leaves the code unchanged")
        return new


class CombinedSpace:
    """The operators of several spaces side by side (each mutation goes to its own)."""

    def __init__(self, *spaces: MutationSpace) -> None:
        self.spaces = spaces

    def operators(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for space in self.spaces:
            found.update(space.operators())
        return found

    def propose(self, code: str) -> list[Mutation]:
        found: list[Mutation] = []
        errors = []
        for space in self.spaces:
            try:
                found += space.propose(code)
            except MutationError as err:
                errors.append(err.reason)
        if not found and errors:
            raise MutationError("; ".join(errors))
        return found

    def apply(self, code: str, mutation: Mutation) -> str:
        for space in self.spaces:
            if mutation.op in space.operators():
                return space.apply(code, mutation)
        raise MutationError(f"unknown operator {mutation.op!r}")
