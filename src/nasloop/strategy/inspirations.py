"""Inspirations: a few other members of the population the LLM improver is shown beside
the parent it works on, so that it can borrow what works elsewhere.

Diverse first, then good: the best candidate of each seed family other than the parent's
(the lineages the parent's code has never met), best family first; then the best of the
rest. Never the parent itself, nor a candidate with the parent's exact code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nasloop.strategy.population import family, rank

if TYPE_CHECKING:
    from nasloop.memory.archive import Candidate
    from nasloop.tasks.base import Objective


def choose(parent: Candidate, population: Sequence[Candidate], n: int,
           by_id: dict[int, Candidate], objective: Objective) -> list[Candidate]:
    """Up to `n` trained members of `population` to show beside `parent` (see the module)."""
    if n <= 0:
        return []
    pool = rank([c for c in population if c.id != parent.id and c.code and c.code != parent.code
                 and c.status == "ok" and c.score is not None], objective)
    own = family(parent, by_id)
    picked: list[Candidate] = []
    seen_families = {own}
    for c in pool:  # the best of each other family
        fam = family(c, by_id)
        if fam not in seen_families:
            seen_families.add(fam)
            picked.append(c)
    picked = picked[:n]
    ids = {c.id for c in picked}
    picked += [c for c in pool if c.id not in ids][: n - len(picked)]  # then the best of the rest
    return picked
