"""Baseline improvers for bench/search_quality.py, plugged in by import path
(`[agents] improver = "python:search_baselines:RandomMutation"`, bench/ on PYTHONPATH).

Each picks a parent its own way and a mutation uniformly from every one that applies to
it: no triples, no credit, no duplicate avoidance. Randomness comes from (seed, step), so a
run is reproducible.

- RandomMutation: a parent drawn uniformly from every trained candidate of the archive.
- RandomWalk: the most recent trained candidate is the parent (whatever its score).
- RandomChains: a chain of CHAIN edits starting from a seed drawn at random, each edit made
  to the previous one's child (its parent when the child did not train); then a new chain.

And one search strategy (`[search] strategy = "search_baselines:FamilyRotation"`), an
experiment kept so its measurement in bench/README can be rerun:

- FamilyRotation: work from the best candidate of the best seed family, unless that family
  has made STALE candidates since its best without beating it; then from the best of the
  best family that has not stalled (all stalled: the best family's). Ranked by the run's
  objective (`archive.objective()`), whichever its direction.
"""

from __future__ import annotations

import random
import time
from typing import Any

from nasloop.agents.base import AgentCall, ImproveRequest, ImproveResult, Instruction
from nasloop.agents.mutation.spec import MutationError
from nasloop.strategy.population import family

CHAIN = 5
STALE = 4


class _Uniform:
    name = "baseline"

    def __init__(self, task: Any) -> None:
        self.space = task.mutation_space()
        self.view: Any = None

    def see(self, archive: Any) -> None:
        self.view = archive

    def _parent(self, trained: list[Any], rng: random.Random, request: ImproveRequest
                ) -> Any:
        raise NotImplementedError

    def improve(self, request: ImproveRequest) -> ImproveResult:
        t0 = time.perf_counter()
        rng = random.Random(f"{type(self).__name__}:{request.seed}:{request.step}")
        cands = sorted(self.view.candidates(), key=lambda c: c.step) if self.view else []
        trained = [c for c in cands if c.status == "ok" and c.code]
        if not trained:
            return ImproveResult(instruction=None, error="nothing trained yet")
        parent = self._parent(trained, rng, request)
        try:
            options = self.space.propose(parent.code)
        except MutationError as err:
            return ImproveResult(instruction=None, error=f"#{parent.id}: {err}")
        if not options:
            return ImproveResult(instruction=None, error=f"no mutation applies to #{parent.id}")
        mutation = rng.choice(options)
        ins = Instruction(parent_id=parent.id, problem="baseline",
                          modification=mutation.describe(), expected_effect="any",
                          mutation=mutation.model_dump())
        call = AgentCall(role="improver", model=self.name, prompt=type(self).__name__,
                         response=ins.model_dump_json(), latency_s=time.perf_counter() - t0)
        return ImproveResult(instruction=ins, calls=[call])


class RandomMutation(_Uniform):
    name = "random-mutation"

    def _parent(self, trained: list[Any], rng: random.Random, request: ImproveRequest) -> Any:
        return rng.choice(trained)


class RandomWalk(_Uniform):
    name = "random-walk"

    def _parent(self, trained: list[Any], rng: random.Random, request: ImproveRequest) -> Any:
        return trained[-1]


class RandomChains(_Uniform):
    name = "random-chains"

    def _parent(self, trained: list[Any], rng: random.Random, request: ImproveRequest) -> Any:
        seeds = [c for c in trained if c.parent_id is None]
        by_id = {c.id: c for c in self.view.candidates()}
        last = max(by_id.values(), key=lambda c: c.step)
        depth, node = 0, last  # how far the latest candidate is from its chain's seed
        while node.parent_id is not None:
            depth, node = depth + 1, by_id[node.parent_id]
        if depth == 0 or depth >= CHAIN or not seeds:
            return rng.choice(seeds or trained)  # start a new chain
        while last.status != "ok" and last.parent_id is not None:  # continue from the last
            last = by_id[last.parent_id]  # trained link of this chain
        return last


class FamilyRotation:
    """Parents by seed family, moving on from a family that has stalled (see above)."""

    def parents(self, archive: Any, step: int, seed: int) -> list[int]:
        cands = archive.candidates()
        key = archive.objective().sort_key  # best first, whichever the direction
        by_id = {c.id: c for c in cands}
        members: dict[int, list[Any]] = {}
        for c in cands:
            members.setdefault(family(c, by_id), []).append(c)
        order = []
        for group in members.values():
            trained = [c for c in group if c.status == "ok" and c.score is not None]
            if not trained:
                continue
            best = min(trained, key=lambda c: (key(c.score), -c.id))
            stalled = sum(c.step > best.step for c in group) >= STALE
            order.append((stalled, key(best.score), -best.id, best.id))
        return [entry[-1] for entry in sorted(order)]
