"""Parent samplers over a ranked population (best first): index of the one picked."""

from __future__ import annotations

import random
from typing import Literal

Sampler = Literal["best", "tournament", "power-law", "uniform"]


def sample(n: int, how: Sampler, rng: random.Random, tournament: int = 3,
           power: float = 1.0) -> int:
    """The rank (0 = best) picked among `n` ranked members: `best` always 0; `uniform` any;
    `tournament` the best of `tournament` drawn without replacement; `power-law` rank r
    (1-based) with probability proportional to r^-power."""
    if n <= 0:
        raise ValueError("no member to sample from")
    if how == "best" or n == 1:
        return 0
    if how == "uniform":
        return rng.randrange(n)
    if how == "tournament":
        return min(rng.sample(range(n), min(tournament, n)))
    if how == "power-law":
        return rng.choices(range(n), weights=[(r + 1) ** -power for r in range(n)])[0]
    raise ValueError(f"unknown sampler {how!r}")
