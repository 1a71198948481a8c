"""Answers to suitability items: tolerant matching, accuracy tables, and two baselines."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

from nasloop.suitability.items import Item

_SEP = re.compile(r"[^a-z0-9]+")
_NUMBER = re.compile(r"^(\S+): ([0-9.]+)$", re.MULTILINE)


def _norm(text: str) -> str:
    """Lower case, every run of punctuation, spaces or separators as one space."""
    return " " + _SEP.sub(" ", text.lower()).strip() + " "


def match_answer(answer: str, a: str, b: str) -> str | None:
    """Which of datasets `a`, `b` an answer names: case, punctuation and separators
    (digits_inverted, "Digits Inverted.", **digits-inverted**) do not matter. When both names
    occur (one may contain the other, or the answer discusses both), the first named after
    an answer marker ("answer:", "dataset:") wins, else the first one named; None when
    neither is named."""
    text = _norm(answer)
    na, nb = _norm(a), _norm(b)
    for marker in (" answer ", " dataset is ", " dataset "):
        at = text.rfind(marker)
        if at >= 0:
            got = _first(text[at + len(marker) - 1:], na, nb, a, b)
            if got is not None:
                return got
    return _first(text, na, nb, a, b)


def _first(text: str, na: str, nb: str, a: str, b: str) -> str | None:
    pa, pb = _find(text, na, nb), _find(text, nb, na)
    if pa < 0 and pb < 0:
        return None
    if pb < 0 or (0 <= pa < pb):
        return a
    return b


def _find(text: str, name: str, other: str) -> int:
    """First position of `name` not inside an occurrence of `other` (digits in
    digits-inverted)."""
    start = 0
    while (at := text.find(name, start)) >= 0:
        inside = any(o <= at and at + len(name) <= o + len(other)
                     for o in _all(text, other)) if len(other) > len(name) else False
        if not inside:
            return at
        start = at + 1
    return -1


def _all(text: str, s: str) -> Iterable[int]:
    start = 0
    while (at := text.find(s, start)) >= 0:
        yield at
        start = at + 1


def accuracy_table(items: list[Item], answers: list[str | None]) -> dict[str, object]:
    """Accuracy overall, per dataset (items that involve it) and per prompt variant."""
    def acc(pairs: list[tuple[Item, str | None]]) -> dict[str, float | int]:
        right = sum(a == it.label for it, a in pairs)
        return {"n": len(pairs), "accuracy": round(right / len(pairs), 4) if pairs else 0.0}

    both = list(zip(items, answers, strict=True))
    datasets = sorted({d for it in items for d in (it.dataset_a, it.dataset_b)})
    return {
        "overall": acc(both),
        "unanswered": sum(a is None for a in answers),
        "per_dataset": {d: acc([p for p in both if d in (p[0].dataset_a, p[0].dataset_b)])
                        for d in datasets},
        "per_variant": {v: acc([p for p in both if p[0].variant == v])
                        for v in sorted({it.variant for it in items})},
    }


def majority_baseline(train: list[Item]) -> Callable[[Item], str]:
    """Always the position (first or second listed) that is the label most often in `train`."""
    first = sum(it.label == it.dataset_a for it in train)
    use_first = first * 2 >= len(train)
    return lambda it: it.dataset_a if use_first else it.dataset_b


def rule_baseline(train: list[Item]) -> Callable[[Item], str]:
    """The normalised prompt: the higher number the prompt itself shows. The others: the
    dataset that wins more of its pairs in `train` (ties: the first listed)."""
    wins: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for it in train:
        wins[it.label] += 1
        seen[it.dataset_a] += 1
        seen[it.dataset_b] += 1

    def rate(d: str) -> float:
        return wins[d] / seen[d] if seen[d] else 0.5

    def predict(it: Item) -> str:
        if it.variant == "normalized":
            shown = {m.group(1): float(m.group(2)) for m in _NUMBER.finditer(it.prompt)}
            if it.dataset_a in shown and it.dataset_b in shown:
                return it.dataset_a if shown[it.dataset_a] >= shown[it.dataset_b] \
                    else it.dataset_b
        return it.dataset_a if rate(it.dataset_a) >= rate(it.dataset_b) else it.dataset_b
    return predict
