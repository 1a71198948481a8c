"""Choosing a cycle's elites: the top rho by the proxy metric that are novel under the
MinHash filter, filled up from the archive's best when too few are."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from datasketch import MinHash

from nasloop.memory.archive import Candidate


@dataclass
class EliteChoice:
    elites: list[Candidate] = field(default_factory=list)  # best first
    fallback: int = 0  # how many came from the archive's best, not this cycle's top
    bar: float | None = None  # the lowest metric among this cycle's own elites


def select_elites(
    generated: Sequence[Candidate],
    archive_best: Sequence[Candidate],
    *,
    rho: float,
    min_elites: int,
    threshold: float,
    signature: Callable[[int], MinHash | None],
    kept_before: Sequence[MinHash] = (),
    rank: Callable[[float | None], float] = lambda score: -(score or 0.0),
) -> EliteChoice:
    """Elites of a cycle.

    The top `ceil(rho * len(generated))` of the cycle's trained candidates by metric (a
    candidate that failed counts as worst, so the quantile is over all it generated), each
    kept only when its MinHash-Jaccard with every elite already kept (this cycle's and
    `kept_before`, earlier cycles') is below `threshold`. With fewer than `min_elites`,
    the best novel candidates of `archive_best` (which must be usable as examples) fill up.
    `rank` orders scores best first (the objective's `sort_key`).
    """
    choice = EliteChoice()
    sigs = list(kept_before)

    def novel(cand: Candidate) -> bool:
        sig = signature(cand.id)
        if sig is None:
            return False
        if any(sig.jaccard(s) >= threshold for s in sigs):
            return False
        sigs.append(sig)
        return True

    trained = sorted(
        (c for c in generated if c.status == "ok" and c.score is not None),
        key=lambda c: (rank(c.score), c.id),
    )
    quota = math.ceil(rho * len(generated)) if generated else 0
    top = trained[:quota]
    if top:
        choice.bar = top[-1].score
    choice.elites = [c for c in top if novel(c)]
    chosen = {c.id for c in choice.elites}
    for cand in archive_best:
        if len(choice.elites) >= min_elites:
            break
        if cand.id not in chosen and novel(cand):
            choice.elites.append(cand)
            chosen.add(cand.id)
            choice.fallback += 1
    return choice
