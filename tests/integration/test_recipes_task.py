"""The recipes task for real: the 54-cell grid on the three seeds on digits, and a short
recipe search, both in the sandbox."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive
from nasloop.tasks.recipes.vocab import GRID_LOSSES, OPTIMIZERS

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]
SEEDS = ("lenet", "resnet_small", "vgg_small")


def test_grid_on_the_three_seeds(tmp_path: Path) -> None:
    out = tmp_path / "study"
    args = [*NASLOOP, "study", "recipes", "--out", str(out), "--jobs", "2", "--json"]
    for seed in SEEDS:
        args += ["--models", seed]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout)
    assert summary["cells"] == 54 and summary["units"] == 3
    table = summary["table"]
    assert len(table) == 54 and {r["model"] for r in table} == set(SEEDS)
    assert {(r["loss"], r["optimizer"]) for r in table} == {
        (loss, opt) for loss in GRID_LOSSES for opt in OPTIMIZERS}
    for row in table:  # every cell is a metric or a classified failure
        assert (row["accuracy"] is not None and 0.0 <= row["accuracy"] <= 1.0) or row["failures"]
    assert set(summary["best"]) == {f"{s}/digits" for s in SEEDS}
    assert len(summary["mean_rank"]) == 18
    html = (out / "study.html").read_text()
    assert html.count('class="heatmap"') == 3 and "recipe-ranks" in html
    again = subprocess.run(args, capture_output=True, text=True, timeout=600)  # resumes
    assert again.returncode == 0 and json.loads(again.stdout)["table"] == table


def test_a_recipe_search_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([*NASLOOP, "run", "--task", "recipes", "--budget", "7", "--out",
                           str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    archive = Archive(out / "archive.sqlite")
    cands = archive.candidates()
    archive.close()
    mutants = [c for c in cands if not c.origin.startswith("seed:")]
    assert mutants and all(c.modification.split("(")[0] in ("loss", "optimizer")
                           for c in mutants)
    assert any(c.status == "ok" for c in mutants)
