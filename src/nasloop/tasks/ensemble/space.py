"""The ensemble task's mutations: swap one expert for another family, or change the gate
and its recipe. Static rewrites (LibCST re-assembly, the `MOE` literal), nothing executed."""

from __future__ import annotations

import math
from typing import Any

from nasloop.agents.mutation.spec import Mutation, MutationError
from nasloop.tasks.ensemble.assemble import (
    AssembleError,
    assemble,
    families_of,
    moe_of,
    with_moe,
)
from nasloop.tasks.ensemble.settings import MoeSettings

SWAP_OP = "swap_expert"
GATE_OP = "gate"
# the values the gate operator offers per MOE key
GATE_CHOICES: dict[str, tuple[float | int, ...]] = {
    "gate_hidden": (16, 32, 64),
    "gate_noise": (0.0, 0.5, 1.0),
    "temperature": (1.0, 2.0, 4.0),
    "balance_weight": (0.0, 0.01, 0.1),
    "mixup_alpha": (0.0, 0.2, 0.4),
    "lr": (0.001, 0.003, 0.01),
}
SUMMARIES = {
    SWAP_OP: "replace one expert (out=family) with another family (in=family); experts with "
             "the lowest marginal effect leave, the highest (or untried) come in",
    GATE_OP: "set one gate/recipe setting (key=..., value=...): " + ", ".join(
        f"{k} in {list(v)}" for k, v in GATE_CHOICES.items()),
}


class EnsembleSpace:
    """A `MutationSpace` over assembled mixtures of `sources`' families. `marginals` (a
    dict the task refreshes after each cycle) weighs the swaps."""

    def __init__(self, sources: dict[str, str], marginals: dict[str, float | None] | None = None,
                 allowed: frozenset[str] = frozenset()) -> None:
        self.sources = sources
        self.marginals = marginals if marginals is not None else {}
        self.allowed = allowed

    def operators(self) -> dict[str, str]:
        return {k: v for k, v in SUMMARIES.items() if not self.allowed or k in self.allowed}

    def _margin(self, family: str, untried: float) -> float:
        value = self.marginals.get(family)
        return untried if value is None else value

    def swaps(self, families: tuple[str, ...]) -> list[Mutation]:
        """Out: the weaker half of the experts by marginal; in: the stronger half of the
        other families (untried ones count as strongest)."""
        others = [f for f in self.sources if f not in families]
        if not others:
            return []
        leaving = sorted(families, key=lambda f: (self._margin(f, 0.0), f))
        coming = sorted(others, key=lambda f: (-self._margin(f, math.inf), f))
        leaving = leaving[: math.ceil(len(leaving) / 2)]
        coming = coming[: math.ceil(len(coming) / 2)]
        return [Mutation(op=SWAP_OP, args={"out": o, "in": i}) for o in leaving for i in coming]

    def propose(self, code: str) -> list[Mutation]:
        try:
            families, moe = families_of(code), moe_of(code)
        except AssembleError as err:
            raise MutationError(err.args[0]) from None
        found = self.swaps(families) if SWAP_OP in self.operators() else []
        if GATE_OP in self.operators():
            current = moe.model_dump()
            found += [Mutation(op=GATE_OP, args={"key": k, "value": v})
                      for k, values in GATE_CHOICES.items() for v in values if current[k] != v]
        return found

    def apply(self, code: str, mutation: Mutation) -> str:
        try:
            if mutation.op == SWAP_OP:
                return self._swap(code, str(mutation.args.get("out")),
                                  str(mutation.args.get("in")))
            if mutation.op == GATE_OP:
                return self._gate(code, str(mutation.args.get("key")), mutation.args.get("value"))
        except AssembleError as err:
            raise MutationError(err.args[0]) from None
        raise MutationError(f"unknown operator {mutation.op!r}")

    def _swap(self, code: str, out: str, into: str) -> str:
        families = list(families_of(code))
        if out not in families:
            raise MutationError(f"{out} is not an expert of this ensemble ({families})")
        if into in families or into not in self.sources:
            raise MutationError(f"{into} is already an expert or not a known family")
        families[families.index(out)] = into
        return assemble([(f, self.sources[f]) for f in families], moe_of(code))

    def _gate(self, code: str, key: str, value: Any) -> str:
        from pydantic import ValidationError

        if key not in GATE_CHOICES:
            raise MutationError(f"gate key {key!r} is not one of {', '.join(GATE_CHOICES)}")
        try:
            moe = MoeSettings.model_validate({**moe_of(code).model_dump(), key: value})
        except ValidationError as err:
            raise MutationError(f"{key}={value}: {err.errors()[0]['msg']}") from None
        new = with_moe(code, moe)
        if new == code:
            raise MutationError(f"{key} is already {value}")
        return new
