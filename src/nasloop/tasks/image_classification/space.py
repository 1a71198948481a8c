"""The architecture mutations of image classification: the LibCST operators of
`nasloop.agents.mutation`, on the task's input shape and class count."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nasloop.agents.mutation.spec import Mutation
    from nasloop.tasks.image_classification.analysis import AnalysisSandbox


class ArchitectureSpace:
    """A `MutationSpace`: width, depth, kernel, norm, activation, dropout ... operators.

    The engine builds and traces a file to work out its shapes, so proposing and applying
    run in the sandbox (`analysis`), never here: any parent can be mutated, LLM-written
    ones included."""

    shrinking = frozenset({"narrow", "drop_block"})  # what a parameter-cap failure asks for

    def __init__(self, in_shape: tuple[int, ...], num_classes: int,
                 allowed: frozenset[str] = frozenset(),
                 analysis: AnalysisSandbox | None = None) -> None:
        from nasloop.tasks.image_classification.analysis import shared_sandbox

        self.in_shape = in_shape  # (1, C, H, W)
        self.num_classes = num_classes
        self.allowed = allowed  # empty: every operator
        self.analysis = analysis if analysis is not None else shared_sandbox()

    def operators(self) -> dict[str, str]:
        from nasloop.agents.mutation.api import operator_summaries

        ops = operator_summaries()
        return {k: v for k, v in ops.items() if not self.allowed or k in self.allowed}

    def propose(self, code: str) -> list[Mutation]:
        found = self.analysis.mutations(code, self.in_shape, self.num_classes)
        return [m for m in found if not self.allowed or m.op in self.allowed]

    def apply(self, code: str, mutation: Mutation) -> str:
        return self.analysis.apply(code, mutation, self.in_shape, self.num_classes)
