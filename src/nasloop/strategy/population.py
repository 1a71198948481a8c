"""The populations of the search strategies, derived from the archive alone (so a resumed
run has exactly the population an uninterrupted one had): MAP-Elites cells, the Pareto
front, islands with ring migration. Every list is ranked best first, newest first on ties.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import TYPE_CHECKING

from nasloop.strategy.samplers import sample

if TYPE_CHECKING:
    from nasloop.config import SearchConfig
    from nasloop.memory.archive import Candidate
    from nasloop.tasks.base import Objective


def rank(cands: Iterable[Candidate], objective: Objective) -> list[Candidate]:
    """Best score first; among equal scores the newest first, so a child that ties its
    parent takes over (neutral drift across a plateau) instead of the oldest of the tied
    candidates staying the parent forever."""
    return sorted(cands, key=lambda c: (objective.sort_key(c.score), -c.id))


def family(cand: Candidate, by_id: dict[int, Candidate]) -> int:
    """The id of the seed a candidate descends from (itself for a seed)."""
    seen = set()
    while cand.parent_id is not None and cand.parent_id in by_id and cand.id not in seen:
        seen.add(cand.id)
        cand = by_id[cand.parent_id]
    return cand.id


def cell(cand: Candidate, by_id: dict[int, Candidate]) -> tuple[int, int]:
    """MAP-Elites descriptor: (floor(log2 params), seed family)."""
    size = math.floor(math.log2(cand.params)) if cand.params and cand.params > 0 else -1
    return size, family(cand, by_id)


def elites(trained: list[Candidate], objective: Objective,
           by_id: dict[int, Candidate]) -> dict[tuple[int, int], Candidate]:
    """The best candidate of each occupied cell."""
    found: dict[tuple[int, int], Candidate] = {}
    for c in rank(trained, objective):
        found.setdefault(cell(c, by_id), c)
    return found


def _size(c: Candidate, axis: str) -> float:
    value = c.params if axis == "params" else c.flops
    return float(value) if value is not None else math.inf


def dominates(a: Candidate, b: Candidate, objective: Objective, axis: str) -> bool:
    """`a` is at least as good as `b` on the objective and the size, better on one."""
    ka, kb = objective.sort_key(a.score), objective.sort_key(b.score)
    sa, sb = _size(a, axis), _size(b, axis)
    return ka <= kb and sa <= sb and (ka < kb or sa < sb)


def front(trained: list[Candidate], objective: Objective, axis: str) -> list[Candidate]:
    """The non-dominated candidates (objective against size), ranked by the objective."""
    return rank((c for c in trained
                 if not any(dominates(o, c, objective, axis) for o in trained)), objective)


def home_island(step: int, n_seeds: int, n: int) -> int:
    """The island a candidate of `step` belongs to: seeds in turn, then the steps take turns."""
    return (step if step < n_seeds else step - n_seeds) % n


def islands(trained: list[Candidate], objective: Objective, n_seeds: int, n: int,
            every: int) -> list[list[Candidate]]:
    """Each island's members, ranked: its own candidates, plus every M steps (before the
    candidates of that step joined) each island's best copied into the next (ring)."""
    ordered = sorted(trained, key=lambda c: c.step)
    members: list[dict[int, Candidate]] = [{} for _ in range(n)]
    last = max((c.step for c in ordered), default=-1)
    i = 0
    for boundary in [*range(every, last + 1, every), last + 1]:
        while i < len(ordered) and ordered[i].step < boundary:
            c = ordered[i]
            members[home_island(c.step, n_seeds, n)][c.id] = c
            i += 1
        if boundary > last:
            break
        best = [rank(m.values(), objective)[:1] for m in members]
        for j, top in enumerate(best):
            for c in top:
                members[(j + 1) % n].setdefault(c.id, c)
    return [rank(m.values(), objective) for m in members]


def parents(trained: list[Candidate], objective: Objective, cfg: SearchConfig, n_seeds: int,
            step: int, seed: int) -> list[Candidate]:
    """The parents to try at `step`, in order: the one the sampler picks from the
    strategy's population, then the rest of that population, then every other trained
    candidate (so the improver always has a fallback), all ranked."""
    by_id = {c.id: c for c in trained}
    if cfg.strategy == "map-elites":
        population = rank(elites(trained, objective, by_id).values(), objective)
    elif cfg.strategy == "pareto":
        population = front(trained, objective, cfg.size)
    elif cfg.strategy == "islands":
        population = islands(trained, objective, n_seeds, cfg.islands, cfg.migrate_every)[
            home_island(step, n_seeds, cfg.islands)]
    else:
        raise ValueError(f"{cfg.strategy} has no population")
    inside = {c.id for c in population}
    rest = [c for c in rank(trained, objective) if c.id not in inside]
    if not population:
        return rest
    rng = random.Random(f"{seed}:{step}:parent")
    picked = sample(len(population), cfg.sampler, rng, cfg.tournament, cfg.power)
    return [population[picked], *population[:picked], *population[picked + 1:], *rest]
