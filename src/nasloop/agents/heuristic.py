"""LLM-free agents for the embedded default: every node runs for real, only the brains differ.

The improver picks a parent (the best, newest among ties) and a typed mutation, weighting
each kind of mutation (operator and its settings, wherever it acts: `credit.kind_of`) by
what the last K triples say it did (rewarded gains, penalised losses and failures) and
trying the kinds the parent has not had first, or with `[search] operator_credit =
"bandit"` Thompson-sampling the operator from its wins over the whole archive
(memory.credit), and skipping what the archive says would waste the step; the generator
realises it with the LibCST mutation operators.
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
from nasloop.memory import novelty
from nasloop.memory.archive import Candidate
from nasloop.memory.credit import kind_of, thompson
from nasloop.memory.triples import Triple
from nasloop.sandbox.failures import FailureClass
from nasloop.strategy.population import rank as rank_parents
from nasloop.tasks.base import MutationSpace, Objective

MODEL = "heuristic"
MAX_APPLIES = 6  # mutations realised per step to find one that wastes nothing


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


TRIED_HERE = 0.25  # what was already tried on this parent waits behind the untried


def kind_weights(kinds: list[str], triples: list[Triple],
                 tried_here: frozenset[str] = frozenset()) -> dict[str, float]:
    """Weight per kind of mutation (`credit.kind_of`): what the recent triples say it did
    (gains multiply it up, losses and failures down), and down by TRIED_HERE for a kind
    already tried on this parent, so each gets its turn on a parent that is stuck."""
    weights = dict.fromkeys(kinds, 1.0)
    for t in triples:
        kind = kind_of(t.modification)
        if kind not in weights:
            continue
        if t.failure_class == "duplicate":
            weights[kind] *= 0.8
        elif t.failure_class is not None:
            weights[kind] *= 0.4
        elif t.delta is not None:
            weights[kind] *= 1.0 + max(-0.6, min(9.0, 10.0 * t.delta))
    for kind in tried_here & weights.keys():
        weights[kind] *= TRIED_HERE
    return {kind: max(w, 0.01) for kind, w in weights.items()}


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
    """Chooses a parent (the best, sometimes another of the top k; or the one a search
    strategy sampled, then its fallbacks) and a typed mutation,
    wasting no step: never a (parent, mutation) pair already tried, never one whose child
    is a program the archive already holds (an ancestor, say), never a parent without valid
    code; after a parameter-cap failure, a mutation that shrinks the model."""

    name = MODEL

    def __init__(
        self, space: MutationSpace, explore: float = 0.2, top_k: int = 5,
        operators: frozenset[str] = frozenset(), credit: str = "triples", tie: float = 0.0,
    ) -> None:
        self.space = space
        self.credit = credit  # triples: weights from the last K; bandit: Thompson sampling
        self.explore = explore
        self.tie = tie  # within this of the best counts as a tie; the newest tied leads
        self.top_k = top_k
        self.operators = operators  # empty: every operator (the space applies the limit)
        self.shrinking = frozenset(getattr(space, "shrinking", ()))  # ops that shrink models

    def prepare(self, candidates: list[Candidate]) -> list[Callable[[], object]]:
        """Work worth doing while the sandbox trains: the mutation options of the candidates
        that may be picked as parents next (the ones training now and the current top k)."""
        codes = list(dict.fromkeys(c.code for c in candidates if c.code))
        return [partial(_options_or_none, self.space, code) for code in codes[: self.top_k + 8]]

    def improve(self, request: ImproveRequest) -> ImproveResult:
        t0 = time.perf_counter()
        rng = _rng(request.seed, request.step, "improve")
        if request.ordered:  # a search strategy picked the parent: its order stands
            ranked = list(request.parents[: self.top_k])
        else:
            ranked = self._lead_with_newest_tie(
                rank_parents(request.parents, request.task.objective)[: self.top_k],
                request.task.objective)
        pool = ranked or request.over_cap[: self.top_k]  # nothing trained: shrink the too big
        if not pool:
            return ImproveResult(instruction=None, error="no trained candidate yet, and none "
                                 "over the parameter cap to shrink")
        first = pool[0]
        explore = self.explore if request.explore is None else request.explore
        if ranked and not request.ordered and len(pool) > 1 and rng.random() < explore:
            first = rng.choice(pool[1:])
        last = request.last
        steer = not ranked or (last is not None and last.failure_class == FailureClass.PARAMS)
        notes: list[str] = []
        budget = MAX_APPLIES
        for parent in [first, *(p for p in pool if p.id != first.id)]:
            found, budget = self._mutate(request, rng, parent, steer, not ranked, notes, budget)
            if found is not None:
                mutation, weights = found
                return self._answer(request, parent, mutation, weights, steer, notes, t0)
            if budget <= 0:
                break
        return ImproveResult(instruction=None, error="; ".join(notes)[:600])

    def _lead_with_newest_tie(self, ranked: list[Candidate], objective: Objective
                              ) -> list[Candidate]:
        """`ranked` with the newest candidate within `tie` of the best first."""
        if self.tie <= 0 or not ranked or ranked[0].score is None:
            return ranked
        best = ranked[0].score
        tied = [c for c in ranked
                if c.score is not None and objective.gain(best, c.score) <= self.tie]
        lead = max(tied, key=lambda c: c.id)
        return [lead, *(c for c in ranked if c.id != lead.id)]

    def _mutate(
        self, request: ImproveRequest, rng: random.Random, parent: Candidate, steer: bool,
        must_shrink: bool, notes: list[str], budget: int,
    ) -> tuple[tuple[Mutation, dict[str, float]] | None, int]:
        """(a fresh mutation of `parent` whose child is new, with the operator weights, or
        None: why goes to `notes`; the budget left). Each mutation considered is applied
        (the generator's apply then hits the sandbox's cache), at most `budget` of them."""
        try:
            options = self.space.propose(parent.code or "")
        except MutationError as err:
            notes.append(f"parent #{parent.id}: {err}")
            return None, budget
        allowed = f" of {', '.join(sorted(self.operators))}" if self.operators else ""
        if not options:
            notes.append(f"no mutation{allowed} applies to #{parent.id}")
            return None, budget
        tried = set(request.tried)
        fresh = [m for m in options if (parent.id, m.describe()) not in tried]
        if steer:
            smaller = [m for m in fresh if m.op in self.shrinking]
            fresh = smaller if smaller or must_shrink else fresh
        if not fresh:
            kind = "shrinking mutation" if must_shrink else f"mutation{allowed}"
            notes.append(f"every {kind} of #{parent.id} was tried")
            return None, budget
        failed = {t.modification for t in request.triples if t.failure_class is not None}
        tried_here = frozenset(kind_of(d) for p, d in tried if p == parent.id)
        kind_of_m = {m: kind_of(m.describe()) for m in fresh}
        while fresh and budget > 0:
            preferred = [m for m in fresh if m.describe() not in failed] or fresh
            if self.credit == "bandit":  # credit from the whole archive, Thompson sampling
                ops = sorted({m.op for m in preferred})
                weights = thompson(ops, request.credit, rng)
                op = max(ops, key=lambda o: weights[o])
                mutation = rng.choice([m for m in preferred if m.op == op])
            else:
                kinds = sorted({kind_of_m[m] for m in preferred})
                weights = kind_weights(kinds, request.triples, tried_here)
                kind = rng.choices(kinds, weights=[weights[k] for k in kinds])[0]
                mutation = rng.choice([m for m in preferred if kind_of_m[m] == kind])
            fresh.remove(mutation)
            budget -= 1
            why = self._wasted(parent, mutation, request.programs)
            if why is None:
                return (mutation, weights), budget
            notes.append(f"#{parent.id} {mutation.describe()}: {why}")
        return None, budget

    def _wasted(self, parent: Candidate, mutation: Mutation, programs: dict[str, int]
                ) -> str | None:
        """Why realising `mutation` on `parent` would waste the step, or None."""
        try:
            child = self.space.apply(parent.code or "", mutation)
        except MutationError as err:
            return f"does not apply: {err}"
        try:
            hashes = (novelty.structural_hash(child), novelty.canonical_hash(child))
        except SyntaxError:
            return None  # the check will say what is wrong with it
        for h in hashes:
            if h in programs:
                return f"reproduces #{programs[h]}"
        return None

    def _answer(
        self, request: ImproveRequest, parent: Candidate, mutation: Mutation,
        weights: dict[str, float], steer: bool, notes: list[str], t0: float,
    ) -> ImproveResult:
        instruction = Instruction(
            parent_id=parent.id,
            problem=_problem(request),
            modification=mutation.describe(),
            expected_effect=(
                "fit under the parameter cap" if steer and parent.status != "ok" else
                f"{'raise' if request.task.objective.direction == 'max' else 'lower'} "
                f"{request.task.objective.metric}"
            ),
            mutation=mutation.model_dump(),
        )
        seen = {
            "parent": parent.id,
            "triples": [t.render() for t in request.triples],
            ("draws" if self.credit == "bandit" else "weights"):
                {o: round(w, 3) for o, w in weights.items()},
            **({"credit": {o: [c.tries, c.wins] for o, c in sorted(request.credit.items())}}
               if self.credit == "bandit" else {}),
            "steer": "smaller" if steer else None,
            "skipped": notes,
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
