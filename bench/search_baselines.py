"""Baseline improvers for bench/search_quality.py, plugged in by import path
(`[agents] improver = "python:search_baselines:RandomMutation"`, bench/ on PYTHONPATH).

Each picks a parent its own way and a mutation uniformly from every one that applies to
it: no triples, no credit, no duplicate avoidance. Randomness comes from (seed, step), so a
run is reproducible.

- RandomMutation: a parent drawn uniformly from every trained candidate of the archive.
- RandomWalk: the most recent trained candidate is the parent (whatever its score).
- RandomChains: a chain of CHAIN edits starting from a seed drawn at random, each edit made
  to the previous one's child (its parent when the child did not train); then a new chain.
"""

from __future__ import annotations

import random
import time
from typing import Any

from nasloop.agents.base import AgentCall, ImproveRequest, ImproveResult, Instruction
from nasloop.agents.mutation.spec import MutationError

CHAIN = 5


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
