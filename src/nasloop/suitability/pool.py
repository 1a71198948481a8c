"""The item pool in figures: items per variant and split, and the two baselines (fit on the
train split) on the held-out networks' items. What `[task] kind = "suitability"` records
after each cycle and what the bench prints."""

from __future__ import annotations

from typing import Any

from nasloop.suitability.items import Item, Network
from nasloop.suitability.scoring import accuracy_table, majority_baseline, rule_baseline


def pool_figures(networks: list[Network], items: list[Item]) -> dict[str, Any]:
    """{networks, items, train, heldout, per_variant: {variant: {items, heldout,
    majority, rule}}}; a baseline is None when its variant has no held-out item."""
    per_variant: dict[str, dict[str, Any]] = {}
    for v in sorted({it.variant for it in items}):
        mine = [it for it in items if it.variant == v]
        train = [it for it in mine if it.split == "train"]
        test = [it for it in mine if it.split == "heldout"]
        row: dict[str, Any] = {"items": len(mine), "heldout": len(test)}
        for name, fit in (("majority", majority_baseline), ("rule", rule_baseline)):
            predict = fit(train)
            row[name] = (accuracy_table(test, [predict(it) for it in test])["overall"]
                         ["accuracy"] if test else None)
        per_variant[v] = row
    return {"networks": len(networks), "items": len(items),
            "train": sum(it.split == "train" for it in items),
            "heldout": sum(it.split == "heldout" for it in items),
            "per_variant": per_variant}
