"""The architecture mutations of image classification: the LibCST operators of
`nasloop.agents.mutation`, on the task's input shape and class count."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nasloop.agents.mutation.spec import Mutation


@lru_cache(maxsize=64)
def _options(code: str, in_shape: tuple[int, ...], num_classes: int) -> tuple[Mutation, ...]:
    from nasloop.agents.mutation import applicable_mutations

    return tuple(applicable_mutations(code, in_shape, num_classes))


class ArchitectureSpace:
    """A `MutationSpace`: width, depth, kernel, norm, activation, dropout ... operators.

    The engine builds and traces the file to work out shapes, so it runs only where that
    is allowed (see the heuristic agents' lineage rule)."""

    def __init__(self, in_shape: tuple[int, ...], num_classes: int,
                 allowed: frozenset[str] = frozenset()) -> None:
        self.in_shape = in_shape  # (1, C, H, W)
        self.num_classes = num_classes
        self.allowed = allowed  # empty: every operator

    def operators(self) -> dict[str, str]:
        from nasloop.agents.mutation.api import operator_summaries

        ops = operator_summaries()
        return {k: v for k, v in ops.items() if not self.allowed or k in self.allowed}

    def propose(self, code: str) -> list[Mutation]:
        found = _options(code, self.in_shape, self.num_classes)
        return [m for m in found if not self.allowed or m.op in self.allowed]

    def apply(self, code: str, mutation: Mutation) -> str:
        from nasloop.agents.mutation import apply_mutation

        return apply_mutation(code, mutation, self.in_shape, self.num_classes)
