"""The recipe study's bookkeeping: resume, ranks, wins, the verdict (cells made up here)."""

from __future__ import annotations

import json
from pathlib import Path

from nasloop.tasks.recipes.study import RESULTS, Cell, Plan, read_cells, run_study, summarize


def _cells(model: str, accs: dict[tuple[str, str], float | None]) -> list[Cell]:
    return [Cell(model, "digits", 0, 1, loss, opt, "ok" if a is not None else "failed",
                 a, None if a is not None else "nan-loss") for (loss, opt), a in accs.items()]


def test_ranks_wins_and_failures_counted_as_worst():
    cells = _cells("a", {("cross_entropy", "adam"): 0.9, ("ngl", "sgd"): None,
                         ("nll", "adam"): 0.8}) + \
        _cells("b", {("cross_entropy", "adam"): 0.7, ("ngl", "sgd"): 0.2, ("nll", "adam"): 0.75})
    s = summarize(cells)
    assert s["best"] == {"a/digits": ["cross_entropy+adam"], "b/digits": ["nll+adam"]}
    assert s["wins"] == {"cross_entropy+adam": 1, "nll+adam": 1}
    assert s["mean_rank"]["ngl+sgd"] == 3.0 and s["mean_rank"]["cross_entropy+adam"] == 1.5
    assert s["best_everywhere"] == []
    failed = next(r for r in s["table"] if r["model"] == "a" and r["recipe"] == "ngl+sgd")
    assert failed["accuracy"] is None and failed["failures"] == ["nan-loss"]


def test_one_recipe_best_everywhere():
    cells = _cells("a", {("cross_entropy", "adam"): 0.9, ("ngl", "sgd"): 0.1}) + \
        _cells("b", {("cross_entropy", "adam"): 0.8, ("ngl", "sgd"): 0.3})
    assert summarize(cells)["best_everywhere"] == ["cross_entropy+adam"]


def test_study_resumes_and_skips_a_torn_line(tmp_path: Path):
    plan = Plan({"m": "code"}, ("digits",), (0,), 1)
    asked: list[int] = []

    def evaluate(todo):
        asked.append(len(todo))
        for m, d, s, e, loss, opt in todo[:5]:  # "killed" after five cells
            yield Cell(m, d, s, e, loss, opt, "ok", 0.5)

    assert len(run_study(plan, tmp_path, evaluate)) == 5
    with (tmp_path / RESULTS).open("a") as fh:
        fh.write('{"model": "m", "dat')  # torn by a kill
    cells = run_study(plan, tmp_path, lambda todo: (Cell(*k, "ok", 0.6) for k in todo))
    assert asked == [18] and len(cells) == 18 and len(read_cells(tmp_path)) == 18
    assert sum(c.accuracy == 0.5 for c in cells) == 5
    assert all(json.loads(line) for line in (tmp_path / RESULTS).read_text().splitlines()[:5])
