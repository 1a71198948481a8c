"""Find where a hunk's old lines sit in the original file.

Two searches, most exact first:

1. contiguous: the hunk's old side (context and removed lines) as one block, compared
   verbatim, then ignoring trailing whitespace, then ignoring all whitespace;
2. alignment: a small dynamic programme that lets context lines of the diff be absent
   from the file (hallucinated or edited context, cost 1 each) and file lines be absent
   from the diff's context (skipped lines, cost 1 each), whitespace ignored. Removed
   lines must all be found, and found contiguous with each other; the total cost is
   capped so that a hunk never matches on a scrap of context.

Each search returns every placement of the best quality; the caller decides between
several (see :mod:`.apply`), and refuses when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

_INF = 10**9
_SKIP = 4096  # weight of one skipped line; a match weighs -1


def _rstrip(s: str) -> str:
    return s.rstrip()


def _nows(s: str) -> str:
    return "".join(s.split())


_LEVELS: tuple[tuple[str, Callable[[str], str]], ...] = (
    ("verbatim", lambda s: s),
    ("trailing whitespace ignored", _rstrip),
    ("whitespace ignored", _nows),
)


@dataclass(frozen=True)
class Placement:
    """A hunk's old side mapped onto file lines ``start..end`` (end exclusive).

    ``pairs[k]`` is the file line matched to the k-th old-side line, or ``None`` when the
    diff's context line was not found in the file.
    """

    start: int
    end: int
    pairs: tuple[int | None, ...]
    level: str  # "verbatim", "trailing whitespace ignored", "whitespace ignored", "aligned"
    cost: int = 0
    skipped_file: int = 0  # file lines inside the span that the diff does not show


def contiguous(old: Sequence[str], file: Sequence[str]) -> list[Placement]:
    """All placements of ``old`` as one block, at the strictest level that finds any."""
    m, n = len(old), len(file)
    if m == 0 or m > n:
        return []
    for level, norm in _LEVELS:
        o = [norm(s) for s in old]
        f = [norm(s) for s in file]
        first = o[0]
        found = [
            Placement(p, p + m, tuple(range(p, p + m)), level)
            for p in range(n - m + 1)
            if f[p] == first and f[p : p + m] == o
        ]
        if found:
            return found
    return []


def max_cost(old: Sequence[str], removed: Sequence[bool]) -> int:
    """The most skips an alignment may use: a third of the old side, at least one."""
    return max(1, len(old) // 3) if any(removed) else max(1, (len(old) - 1) // 3)


def aligned(old: Sequence[str], removed: Sequence[bool], file: Sequence[str]) -> list[Placement]:
    """All minimum-cost alignments of ``old`` against ``file`` (whitespace ignored)."""
    m, n = len(old), len(file)
    if m == 0 or n == 0:
        return []
    o = [_nows(s) for s in old]
    f = [_nows(s) for s in file]
    # d[k][j]: weight of aligning old[:k] so that the last consumed file line is j-1,
    # with any number of leading file lines free (the start of the span is free).
    # Weight = skips * _SKIP - matches: fewest skips first, then most matched lines.
    d = [[_INF] * (n + 1) for _ in range(m + 1)]
    back: list[list[str]] = [[""] * (n + 1) for _ in range(m + 1)]
    d[0] = [0] * (n + 1)
    for k in range(m + 1):
        row, brow = d[k], back[k]
        inner = 0 < k < m and not (removed[k - 1] and removed[k])
        for j in range(n + 1):
            if k and j and o[k - 1] == f[j - 1] and d[k - 1][j - 1] - 1 < row[j]:
                row[j], brow[j] = d[k - 1][j - 1] - 1, "m"
            if k and not removed[k - 1] and d[k - 1][j] + _SKIP < row[j]:
                row[j], brow[j] = d[k - 1][j] + _SKIP, "o"
            if inner and j and row[j - 1] + _SKIP < row[j]:
                row[j], brow[j] = row[j - 1] + _SKIP, "f"
    best = min(d[m])
    if (best + m) // _SKIP > max_cost(old, removed):
        return []
    out: list[Placement] = []
    for j_end in range(n + 1):
        if d[m][j_end] != best or back[m][j_end] == "f":
            continue
        pairs: list[int | None] = [None] * m
        k, j, skipped = m, j_end, 0
        while k:
            step = back[k][j]
            if step == "m":
                pairs[k - 1] = j - 1
                k, j = k - 1, j - 1
            elif step == "o":
                k -= 1
            else:
                skipped, j = skipped + 1, j - 1
        matched = [p for p in pairs if p is not None]
        if not matched or not any(o[i] for i, p in enumerate(pairs) if p is not None):
            continue
        cost = (best + len(matched)) // _SKIP
        out.append(Placement(matched[0], matched[-1] + 1, tuple(pairs), "aligned", cost, skipped))
    return out
