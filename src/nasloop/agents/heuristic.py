"""LLM-free agents for the embedded default: every node runs for real, only the brains differ.

The improver picks a typed mutation, weighting each operator by what the last K triples
say it did (rewarded gains, penalised losses and failures); the generator realises it with
the LibCST mutation operators.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Iterable
from functools import partial

from nasloop.agents.base import (
    AgentCall,
    GenerateRequest,
    Generation,
    ImproveRequest,
    ImproveResult,
    Instruction,
)
from nasloop.agents.mutation import Mutation, MutationError
from nasloop.memory.archive import Candidate
from nasloop.memory.triples import Triple
from nasloop.tasks.base import MutationSpace

MODEL = "heuristic"


CALL = re.compile(r"\b([A-Za-z_]\w*)\(([^()]*)\)")


def _value(text: str) -> int | float | str:
    text = text.strip().strip("'\"")
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def named_mutation(text: str, operators: Iterable[str]) -> Mutation | None:
    """The first `op(key=value, ...)` in free text whose op is one of `operators` (the
    form `Mutation.describe` writes; values are numbers or names), else None."""
    ops = set(operators)
    for match in CALL.finditer(text):
        if match.group(1) not in ops:
            continue
        args: dict[str, int | float | str] = {}
        for part in filter(None, (p.strip() for p in match.group(2).split(","))):
            key, eq, value = part.partition("=")
            if not eq or not key.strip().isidentifier():
                break
            args[key.strip()] = _value(value)
        else:
            layer = args.pop("layer", None)
            return Mutation(op=match.group(1), layer=None if layer is None else str(layer),
                            args=args)
    return None


def _rng(seed: int, step: int, salt: str) -> random.Random:
    # Derived from (seed, step), so a resumed run makes the same choices it would have made.
    return random.Random(f"{seed}:{step}:{salt}")


def _options_or_none(space: MutationSpace, code: str) -> list[Mutation] | None:
    try:
        return space.propose(code)
    except MutationError:
        return None


def op_of(modification: str) -> str:
    """The operator name of a mutation description: 'widen(layer=conv2, factor=2)' -> 'widen'."""
    return modification.split("(", 1)[0].strip()


def operator_weights(ops: list[str], triples: list[Triple]) -> dict[str, float]:
    """Weight per operator from recent outcomes: gains multiply it up, losses and failures down."""
    weights = dict.fromkeys(ops, 1.0)
    for t in triples:
        op = op_of(t.modification)
        if op not in weights:
            continue
        if t.failure_class == "duplicate":
            weights[op] *= 0.8
        elif t.failure_class is not None:
            weights[op] *= 0.4
        elif t.delta is not None:
            weights[op] *= 1.0 + max(-0.6, min(3.0, 10.0 * t.delta))
    return {op: max(w, 0.05) for op, w in weights.items()}


def _problem(request: ImproveRequest) -> str:
    last = request.last
    best = request.parents[0] if request.parents else None
    objective = request.task.objective
    if last is not None and last.failure_class is not None:
        msg = (last.failure_message or "").splitlines()[0][:120] if last.failure_message else ""
        return f"last candidate #{last.id} failed: {last.failure_class}" + (
            f": {msg}" if msg else ""
        )
    best_s = (
        f"best {objective.describe(best.score)} (#{best.id})"
        if best and best.score is not None else "nothing trained"
    )
    if last is not None and last.score is not None:
        return f"last candidate #{last.id} reached {objective.format(last.score)}; {best_s}"
    return best_s


class HeuristicImprover:
    """Chooses a parent (the best, sometimes another of the top k) and a typed mutation."""

    name = MODEL

    def __init__(
        self, space: MutationSpace, explore: float = 0.2, top_k: int = 5,
        operators: frozenset[str] = frozenset(),
    ) -> None:
        self.space = space
        self.explore = explore
        self.top_k = top_k
        self.operators = operators  # empty: every operator (the space applies the limit)

    def prepare(self, candidates: list[Candidate]) -> list[Callable[[], object]]:
        """Work worth doing while the sandbox trains: the mutation options of the candidates
        that may be picked as parents next (the ones training now and the current top k)."""
        codes = list(dict.fromkeys(c.code for c in candidates if c.code))
        return [partial(_options_or_none, self.space, code) for code in codes[: self.top_k + 8]]

    def improve(self, request: ImproveRequest) -> ImproveResult:
        t0 = time.perf_counter()
        rng = _rng(request.seed, request.step, "improve")
        pool = request.parents[: self.top_k]
        if not pool:
            return ImproveResult(instruction=None, error="no trained candidate yet")
        parent = pool[0]
        if len(pool) > 1 and rng.random() < self.explore:
            parent = rng.choice(pool[1:])
        try:
            options = self.space.propose(parent.code or "")
        except MutationError as err:
            return ImproveResult(instruction=None, error=f"parent #{parent.id}: {err}")
        tried = {t.modification for t in request.triples if t.failure_class is not None}
        fresh = [m for m in options if m.describe() not in tried] or options
        if not fresh:
            allowed = f" of {', '.join(sorted(self.operators))}" if self.operators else ""
            return ImproveResult(
                instruction=None, error=f"no mutation{allowed} applies to #{parent.id}"
            )
        weights = operator_weights(sorted({m.op for m in fresh}), request.triples)
        ops = list(weights)
        op = rng.choices(ops, weights=[weights[o] for o in ops])[0]
        mutation = rng.choice([m for m in fresh if m.op == op])
        instruction = Instruction(
            parent_id=parent.id,
            problem=_problem(request),
            modification=mutation.describe(),
            expected_effect=(
                f"{'raise' if request.task.objective.direction == 'max' else 'lower'} "
                f"{request.task.objective.metric}"
            ),
            mutation=mutation.model_dump(),
        )
        seen = {
            "parent": parent.id,
            "triples": [t.render() for t in request.triples],
            "weights": {o: round(w, 3) for o, w in weights.items()},
        }
        call = AgentCall(
            role="improver",
            model=MODEL,
            prompt=json.dumps(seen),
            response=instruction.model_dump_json(),
            latency_s=time.perf_counter() - t0,
        )
        return ImproveResult(instruction=instruction, calls=[call])


class HeuristicGenerator:
    """Applies the instruction's typed mutation to the parent code with LibCST."""

    name = MODEL

    def __init__(self, space: MutationSpace) -> None:
        self.space = space

    def generate(self, request: GenerateRequest) -> Generation:
        t0 = time.perf_counter()
        parent_code = request.parent.code or ""
        spec = request.instruction.mutation
        try:
            code = None
            if spec is not None:
                mutation = Mutation.model_validate(spec)
            else:
                named = named_mutation(request.instruction.modification,
                                       self.space.operators())
                if named is not None:  # an LLM improver asked for one operator call
                    try:
                        code = self.space.apply(parent_code, named)
                    except MutationError:
                        code = None
                mutation = named if code is not None else self._from_text(request, parent_code)
            if code is None:
                code = self.space.apply(parent_code, mutation)
            error = None
        except MutationError as err:
            code, error = None, f"mutation could not be applied: {err}"
        call = AgentCall(
            role="generator",
            model=MODEL,
            prompt=request.instruction.modification,
            response=code if code is not None else (error or ""),
            latency_s=time.perf_counter() - t0,
            ok=code is not None,
            error=error,
        )
        return Generation(code=code, calls=[call], error=error)

    def _from_text(self, request: GenerateRequest, parent_code: str) -> Mutation:
        """Pick a mutation whose operator the free-text instruction names, else any one."""
        options = self.space.propose(parent_code)
        if not options:
            raise MutationError("no mutation applies to the parent")
        text = request.instruction.modification.lower()
        named = [m for m in options if m.op in text] or options
        return _rng(request.seed, request.step, "generate").choice(named)
