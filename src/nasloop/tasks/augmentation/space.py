"""The augmentation operators as a MutationSpace: add, remove, replace or re-parameterise
one op of a transform file's composition (LibCST, static, safe on any candidate).

    add(at=1, kind=rotation, degrees=15)      insert a catalogue op at a position
    remove(at=0, kind=crop)                   drop the op at a position
    replace(at=0, kind=blur, kernel_size=3, sigma=0.8)   put another op in its place
    reparam(at=0, param=padding, value=2)     change one tunable argument of an op

Proposals are deterministic for a file (parameter values drawn with a seed of its text).
"""

from __future__ import annotations

import hashlib
import random

from nasloop.agents.mutation.spec import Mutation, MutationError
from nasloop.tasks.augmentation.catalogue import BY_NAME, CATALOGUE, op_named
from nasloop.tasks.augmentation.compose import Composition, Step, call_text, read

ADD, REMOVE, REPLACE, REPARAM = "add", "remove", "replace", "reparam"
SUMMARIES = {
    ADD: "insert one catalogue op into the transform's composition: "
         + ", ".join(BY_NAME),
    REMOVE: "drop one op of the composition",
    REPLACE: "put another catalogue op in place of one op",
    REPARAM: "change one tunable argument of one op (probability, magnitude, size)",
}
POSITIONAL = ("at", "kind", "param", "value")  # mutation args that are not op arguments


class AugmentSpace:
    """A `MutationSpace` over transform files for images of side `side`."""

    def __init__(self, side: int, max_ops: int = 4, values: int = 2,
                 allowed: frozenset[str] = frozenset()) -> None:
        self.side = side
        self.max_ops = max_ops  # add stops at this many ops
        self.values = values  # values proposed per tunable argument
        self.allowed = allowed  # empty: every operator

    def operators(self) -> dict[str, str]:
        return {k: v for k, v in SUMMARIES.items() if not self.allowed or k in self.allowed}

    def propose(self, code: str) -> list[Mutation]:
        comp = read(code)
        rng = random.Random(hashlib.sha1(code.encode()).hexdigest())
        steps = comp.steps
        present = {s.op for s in steps if s is not None}
        found: list[Mutation] = []
        if len(steps) < self.max_ops:
            for op in CATALOGUE:
                if op.name not in present:
                    at = rng.randint(0, len(steps))
                    found.append(Mutation(op=ADD, args={"at": at, "kind": op.name,
                                                        **op.draw(rng)}))
        for at, step in enumerate(steps):
            kind = step.op if step is not None else "other"
            found.append(Mutation(op=REMOVE, args={"at": at, "kind": kind}))
            for op in CATALOGUE:
                if op.name not in present:
                    found.append(Mutation(op=REPLACE, args={"at": at, "kind": op.name,
                                                            **op.draw(rng)}))
            if step is None:
                continue
            for p in op_named(step.op).params:
                tried = {step.args[p.kw]}
                for _ in range(self.values * 4):
                    value = p.draw(rng)
                    if value not in tried and len(tried) <= self.values:
                        tried.add(value)
                        found.append(Mutation(op=REPARAM, args={"at": at, "param": p.kw,
                                                                "value": value}))
        return [m for m in found if m.op in self.operators()]

    def apply(self, code: str, mutation: Mutation) -> str:
        comp = read(code)
        texts = [e.text for e in comp.elements]
        at = mutation.args.get("at")
        if mutation.layer is not None or not isinstance(at, int) or isinstance(at, bool):
            raise MutationError(f"{mutation.describe()}: needs an integer at=...")
        limit = len(texts) + (1 if mutation.op == ADD else 0)
        if not 0 <= at < limit:
            raise MutationError(f"{mutation.describe()}: the composition has {len(texts)} ops")
        if mutation.op == ADD:
            texts.insert(at, self._text(comp, mutation))
        elif mutation.op == REMOVE:
            del texts[at]
        elif mutation.op == REPLACE:
            texts[at] = self._text(comp, mutation)
        elif mutation.op == REPARAM:
            texts[at] = self._retuned(comp, at, mutation)
        else:
            raise MutationError(f"unknown operator {mutation.op!r}")
        new = comp.with_elements(texts)
        if new == code:
            raise MutationError(f"{mutation.describe()} leaves the code unchanged")
        return new

    def _text(self, comp: Composition, mutation: Mutation) -> str:
        kind = mutation.args.get("kind")
        try:
            op = op_named(str(kind))
        except ValueError as err:
            raise MutationError(str(err)) from None
        args = {k: v for k, v in mutation.args.items() if k not in POSITIONAL}
        extra = set(args) - {p.kw for p in op.params}
        if extra:
            raise MutationError(f"{kind} takes no argument {sorted(extra)[0]!r}")
        try:
            return call_text(Step(op.name, args), self.side, comp.prefix)
        except ValueError as err:
            raise MutationError(f"{mutation.describe()}: {err}") from None

    def _retuned(self, comp: Composition, at: int, mutation: Mutation) -> str:
        step = comp.elements[at].step
        if step is None:
            raise MutationError(f"op {at} is not a catalogue op with literal arguments")
        kw, value = mutation.args.get("param"), mutation.args.get("value")
        if kw not in step.args or value is None:
            raise MutationError(f"{step.op} has no tunable argument {kw!r}")
        try:
            return call_text(Step(step.op, {**step.args, str(kw): value}), self.side,
                             comp.prefix)
        except ValueError as err:
            raise MutationError(f"{mutation.describe()}: {err}") from None
