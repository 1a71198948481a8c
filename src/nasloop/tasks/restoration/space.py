"""The mutations of restoration: the width, kernel and depth operators of
`nasloop.agents.mutation`, on an image-to-image model, restricted to the hardware limits.

The engine builds and traces the file in-process (trusted lineage only, as for image
classification); a mutant that leaves the allow-list or the parameter cap is not offered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nasloop.agents.mutation.spec import MutationError

if TYPE_CHECKING:
    from nasloop.agents.mutation.spec import Mutation
    from nasloop.tasks.restoration.settings import HardwareLimits

OPERATORS = ("widen", "narrow", "kernel", "add_block", "drop_block")


class RestorationSpace:
    """A `MutationSpace` over restoration models of one image shape."""

    shrinking = frozenset({"narrow", "drop_block"})  # what a parameter-cap failure asks for

    def __init__(self, shape: tuple[int, int, int], limits: HardwareLimits,
                 allowed: frozenset[str] = frozenset()) -> None:
        self.in_shape = (1, *shape)
        self.out_shape = tuple(shape)  # the engine's "num_classes": an output shape
        self.limits = limits
        self.ops = tuple(op for op in OPERATORS if not allowed or op in allowed)

    def operators(self) -> dict[str, str]:
        from nasloop.agents.mutation.api import operator_summaries

        return {k: v for k, v in operator_summaries().items() if k in self.ops}

    def _fits(self, mutation: Mutation) -> bool:
        if mutation.op not in self.ops:
            return False
        size = mutation.args.get("size")
        return mutation.op != "kernel" or size in self.limits.conv_kernels

    def propose(self, code: str) -> list[Mutation]:
        from nasloop.agents.mutation import applicable_mutations

        found = applicable_mutations(code, self.in_shape, self.out_shape)  # type: ignore[arg-type]
        return [m for m in found if self._fits(m)]

    def apply(self, code: str, mutation: Mutation) -> str:
        from nasloop.agents.mutation import apply_mutation
        from nasloop.agents.mutation.model import build, count_params
        from nasloop.sandbox.classify import CandidateFailure
        from nasloop.tasks.restoration.hardware import check_allowed

        if not self._fits(mutation):
            raise MutationError(f"{mutation.describe()} is outside the hardware limits")
        new = apply_mutation(code, mutation, self.in_shape, self.out_shape)  # type: ignore[arg-type]
        model, _, _ = build(new, self.in_shape, self.out_shape)  # type: ignore[arg-type]
        try:
            check_allowed(model, self.limits)
        except CandidateFailure as err:
            raise MutationError(f"{mutation.describe()}: {err.message}") from None
        params = count_params(model)
        if params > self.limits.max_params:
            raise MutationError(f"{mutation.describe()}: {params} parameters > cap "
                                f"{self.limits.max_params}")
        return new
