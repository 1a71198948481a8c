"""The exploration schedule: how the chance that the greedy improver works from another of
the top candidates instead of the best changes over a run (`[search] explore_schedule`).

Population strategies explore through their sampler instead (`[search] sampler`).
"""

from __future__ import annotations

import math
from typing import Literal

Schedule = Literal["constant", "linear", "cosine"]


def explore_at(start: float, end: float, how: Schedule, step: int, first: int,
               last: int) -> float:
    """The chance of exploring at `step`: `start` at the run's first mutant (`first`),
    `end` at its last step (`last`), in between constant (always `start`), linear, or along
    a half cosine (slow at both ends)."""
    if how == "constant" or last <= first:
        return start
    t = min(max((step - first) / (last - first), 0.0), 1.0)
    if how == "linear":
        return start + (end - start) * t
    return end + (start - end) * (1 + math.cos(math.pi * t)) / 2
