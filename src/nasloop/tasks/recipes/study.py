"""The recipe study: every (loss, optimizer) of the grid on every model, dataset and seed.

Each cell is one sandboxed training of the model file rewritten to that recipe. Cells are
appended to `results.jsonl` as they finish, so a study that stops resumes where it was; a
failure (a NaN with a bad pairing, a timeout) is a classified cell, never dropped.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean
from typing import Any

from nasloop.tasks.recipes.vocab import GRID_LOSSES, Recipe, grid

RESULTS = "results.jsonl"
SUMMARY = "study.json"
REPORT = "study.html"


@dataclass(frozen=True)
class Cell:
    """One training of one model with one recipe."""

    model: str
    dataset: str
    seed: int
    epochs: int
    loss: str
    optimizer: str
    status: str  # ok | failed
    accuracy: float | None = None
    failure_class: str | None = None
    message: str | None = None

    def key(self) -> tuple[str, str, int, int, str, str]:
        return (self.model, self.dataset, self.seed, self.epochs, self.loss, self.optimizer)


def read_cells(out: Path) -> list[Cell]:
    """The cells recorded so far (a torn last line, from a kill, is skipped)."""
    path = out / RESULTS
    cells = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                cells.append(Cell(**json.loads(line)))
            except (ValueError, TypeError):
                continue
    return cells


@dataclass(frozen=True)
class Plan:
    """What a study evaluates."""

    models: dict[str, str]  # name -> code
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    epochs: int
    losses: tuple[str, ...] = GRID_LOSSES

    def keys(self) -> list[tuple[str, str, int, int, str, str]]:
        return [(m, d, s, self.epochs, r.loss, r.optimizer) for m in self.models
                for d in self.datasets for s in self.seeds for r in grid(self.losses)]


def run_study(plan: Plan, out: Path, evaluate: Callable[[list[tuple[Any, ...]]],
                                                       Iterable[Cell]],
              on_cell: Callable[[Cell], None] = lambda c: None) -> list[Cell]:
    """Evaluate the cells of `plan` not yet in `out` (with `evaluate`, which yields cells as
    they finish) and return every cell of the plan."""
    out.mkdir(parents=True, exist_ok=True)
    _cut_torn_line(out / RESULTS)
    done = {c.key(): c for c in read_cells(out)}
    todo = [k for k in plan.keys() if k not in done]
    with (out / RESULTS).open("a", encoding="utf-8") as fh:
        for cell in evaluate(todo):
            fh.write(json.dumps(asdict(cell)) + "\n")
            fh.flush()
            done[cell.key()] = cell
            on_cell(cell)
    return [done[k] for k in plan.keys() if k in done]


def _cut_torn_line(path: Path) -> None:
    """Drop a last line a kill left without its newline, so appends start clean."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def summarize(cells: list[Cell]) -> dict[str, Any]:
    """The study's figures: accuracy of every (model, dataset, loss, optimizer) (mean over
    seeds; failures listed), the best recipe(s) per (model, dataset), mean rank and win
    count per recipe, and the recipes that are best everywhere (tied ones included)."""
    by_unit: dict[tuple[str, str], dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for c in cells:
        by_unit[(c.model, c.dataset)][Recipe(c.loss, c.optimizer).name].append(c)
    table, best, ranks, wins = [], {}, defaultdict(list), defaultdict(int)
    for (model, dataset), recipes in sorted(by_unit.items()):
        scores: dict[str, float | None] = {}
        for name, cs in recipes.items():
            ok = [c.accuracy for c in cs if c.status == "ok" and c.accuracy is not None]
            scores[name] = mean(ok) if ok else None
            table.append({"model": model, "dataset": dataset, "recipe": name,
                          "loss": cs[0].loss, "optimizer": cs[0].optimizer,
                          "accuracy": scores[name], "runs": len(cs), "ok": len(ok),
                          "failures": sorted({c.failure_class or "?" for c in cs
                                              if c.status != "ok"})})
        ordered = sorted(scores, key=lambda n: -(scores[n] if scores[n] is not None else -1.0))
        top = scores[ordered[0]]
        best[f"{model}/{dataset}"] = [n for n in ordered if scores[n] == top and top is not None]
        for n in best[f"{model}/{dataset}"]:
            wins[n] += 1
        for n in scores:  # rank 1 is best; equal scores share the better rank; failures last
            better = sum(1 for m in scores if _beats(scores[m], scores[n]))
            ranks[n].append(1 + better)
    mean_rank = {n: round(mean(r), 3) for n, r in ranks.items()}
    units = len(by_unit)
    universal = sorted(n for n, w in wins.items() if w == units) if units else []
    return {"cells": len(cells), "units": units, "table": table, "best": best,
            "mean_rank": dict(sorted(mean_rank.items(), key=lambda kv: kv[1])),
            "wins": dict(sorted(wins.items(), key=lambda kv: -kv[1])),
            "best_everywhere": universal}


def _beats(a: float | None, b: float | None) -> bool:
    if a is None:
        return False
    return b is None or a > b


def write_summary(out: Path, summary: dict[str, Any]) -> None:
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
