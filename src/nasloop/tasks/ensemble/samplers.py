"""Which k-subsets of the families get evaluated: lexicographic (the reference's order,
kept to reproduce its bias), random, or stratified (balanced appearances and pairs)."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator

from nasloop.tasks.ensemble.settings import Sampler

Combo = tuple[str, ...]


class SamplerError(ValueError):
    """The families cannot give what was asked (one-line reason)."""


def lexicographic(names: list[str], k: int) -> Iterator[Combo]:
    """`itertools.combinations` over the names sorted: the first family is in the first
    C(n-1, k-1) ensembles (the reference's coverage bug, on purpose)."""
    yield from itertools.combinations(sorted(names), k)


def random_order(names: list[str], k: int, seed: int) -> Iterator[Combo]:
    """Distinct uniformly random k-subsets (members in name order)."""
    rng = random.Random(f"moe-random:{seed}")
    total = math.comb(len(names), k)
    if total <= 50_000:
        combos = list(itertools.combinations(sorted(names), k))
        rng.shuffle(combos)
        yield from combos
        return
    seen: set[Combo] = set()
    while len(seen) < total:
        combo = tuple(sorted(rng.sample(names, k)))
        if combo not in seen:
            seen.add(combo)
            yield combo


def stratified(names: list[str], k: int, seed: int, tries: int = 48) -> Iterator[Combo]:
    """Distinct k-subsets such that after each one every family's count is within one of
    every other's; among those, the ones whose pairs have co-occurred least are preferred.
    When no new subset keeps that balance (few families, most subsets taken), the one that
    spreads the counts least is taken.

    Each step takes the families with the lowest count first (all of them when fewer than k
    remain at that count), fills the rest from the next count, greedily by pair
    co-occurrence, and keeps the best of `tries` randomised draws that is new."""
    rng = random.Random(f"moe-stratified:{seed}")
    names = sorted(names)
    counts = Counter(dict.fromkeys(names, 0))
    pairs: Counter[tuple[str, str]] = Counter()
    seen: set[Combo] = set()
    total = math.comb(len(names), k)

    def pair_cost(combo: Combo) -> int:
        return sum(pairs[p] for p in itertools.combinations(combo, 2))

    def spread(combo: Combo) -> int:
        after = [counts[n] + (n in combo) for n in names]
        return max(after) - min(after)

    def draw() -> Combo:
        low = min(counts.values())
        tiers = [[n for n in names if counts[n] == low], [n for n in names if counts[n] == low + 1]]
        chosen: list[str] = []
        for tier in tiers:
            pool = list(tier)
            rng.shuffle(pool)
            while pool and len(chosen) < k:
                best = min(pool, key=lambda n: sum(pairs[tuple(sorted((n, c)))] for c in chosen))
                chosen.append(best)
                pool.remove(best)
        return tuple(sorted(chosen))

    def allowed() -> Iterator[Combo]:
        low = min(counts.values())
        must = [n for n in names if counts[n] == low]
        rest = [n for n in names if counts[n] == low + 1]
        if len(must) >= k:
            yield from itertools.combinations(must, k)
            return
        for extra in itertools.combinations(rest, k - len(must)):
            yield tuple(sorted(must + list(extra)))

    while len(seen) < total:
        drawn = {draw() for _ in range(tries)} - seen
        if not drawn:  # every draw was taken: look through all that keep the balance
            drawn = set(itertools.islice((c for c in allowed() if c not in seen), 256))
        key = pair_cost
        if not drawn:  # none keeps every family within one: the least spread, then pairs
            drawn = set(itertools.islice(
                (c for c in itertools.combinations(names, k) if c not in seen), 20_000))
            key = lambda c: (spread(c), pair_cost(c))  # noqa: E731
        if not drawn:
            return
        combo = min(sorted(drawn), key=key)
        seen.add(combo)
        counts.update(combo)
        pairs.update(itertools.combinations(combo, 2))
        yield combo


def sample(names: list[str], k: int, sampler: Sampler, count: int, seed: int = 0) -> list[Combo]:
    """The first `count` ensembles `sampler` gives (fewer only when no more exist)."""
    if len(set(names)) < k:
        raise SamplerError(f"{len(set(names))} families cannot make an ensemble of k={k}")
    if sampler == "lexicographic":
        found = lexicographic(names, k)
    elif sampler == "random":
        found = random_order(names, k, seed)
    else:
        found = stratified(names, k, seed)
    return list(itertools.islice(found, count))
