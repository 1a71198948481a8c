"""Credit per mutation operator from the whole archive's triples, and a Thompson-sampling
bandit over operators that spends it.

An attempt is a step whose candidate was made from a parent by an operator; it is a win
when the child trained and improved on its parent (a positive delta). Failures, duplicates
and children that did not beat their parent are attempts without a win. The draws come from
the caller's random generator (seeded by run seed and step), and the credit from the archive
alone, so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from nasloop.memory.triples import Triple


def op_of(modification: str) -> str:
    """The operator name of a mutation description: 'widen(layer=conv2, factor=2)' -> 'widen'."""
    return modification.split("(", 1)[0].strip()


WHERE_AND_HOW_MUCH = ("layer", "channels")  # arguments a kind of mutation leaves out


def kind_of(modification: str) -> str:
    """The kind of a mutation: its operator and arguments without where it acts or how wide,
    'norm(layer=conv2, kind=batch)' -> 'norm(kind=batch)', 'widen(layer=fc, channels=64)'
    -> 'widen()'; a description that is no operator call is its own kind."""
    op, paren, rest = modification.partition("(")
    if not paren or not rest.endswith(")"):
        return modification.strip()
    parts = [p.strip() for p in rest[:-1].split(",") if p.strip()]
    kept = [p for p in parts if p.partition("=")[0].strip() not in WHERE_AND_HOW_MUCH]
    return f"{op.strip()}({', '.join(kept)})"


@dataclass(frozen=True)
class Credit:
    tries: int = 0
    wins: int = 0

    def rate(self) -> float:
        """Posterior mean of the win rate under a uniform prior."""
        return (self.wins + 1) / (self.tries + 2)


def operator_credit(triples: list[Triple]) -> dict[str, Credit]:
    """Attempts and wins per operator over `triples` (seeds are no attempt)."""
    found: dict[str, Credit] = {}
    for t in triples:
        if t.modification.startswith("seed:") or not t.modification:
            continue
        op = op_of(t.modification)
        was = found.get(op, Credit())
        win = t.failure_class is None and t.delta is not None and t.delta > 0
        found[op] = Credit(was.tries + 1, was.wins + int(win))
    return found


def thompson(ops: list[str], credit: dict[str, Credit], rng: random.Random) -> dict[str, float]:
    """One draw per operator (sorted by name, so the draws are reproducible) from its
    Beta(1 + wins, 1 + losses) posterior; the bandit plays the largest."""
    draws = {}
    for op in sorted(ops):
        c = credit.get(op, Credit())
        draws[op] = rng.betavariate(1 + c.wins, 1 + c.tries - c.wins)
    return draws
