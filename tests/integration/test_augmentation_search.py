"""The augmentation task for real, in the sandbox: a 30-transform corpus with LeNet on
digits (one epoch each), and a short search with the heuristic agents."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive
from nasloop.tasks.augmentation.pairs import better_than
from nasloop.tasks.augmentation.records import read_transforms
from nasloop.tasks.augmentation.space import SUMMARIES

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]


def test_a_30_transform_corpus_with_lenet_on_digits(tmp_path: Path) -> None:
    out = tmp_path / "transforms.jsonl"
    args = [*NASLOOP, "corpus", "transforms", "--count", "30", "--ops", "1-3", "--evaluate",
            "--jobs", "2", "--network", "lenet", "--epochs", "1", "--out", str(out), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["held"] == 30
    records = read_transforms(out)
    assert len(records) == 30 and len({r.id for r in records}) == 30
    for r in records:  # every transform has an accuracy or a classified failure
        assert (r.accuracy is not None and 0.0 <= r.accuracy <= 1.0) or r.failure
    trained = [r for r in records if r.accuracy is not None]
    assert len(trained) >= 20 and len({r.accuracy for r in trained}) > 3
    pairs = better_than(records)
    assert pairs and all(b.accuracy > a.accuracy for a, b in pairs)


def test_a_short_augmentation_search_with_the_heuristic_agents(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([*NASLOOP, "run", "--task", "augmentation", "--budget", "7",
                           "--out", str(out)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    archive = Archive(out / "archive.sqlite")
    cands = archive.candidates()
    archive.close()
    assert len(cands) == 7
    mutants = [c for c in cands if not c.origin.startswith("seed:")]
    assert mutants and all(c.modification.split("(")[0] in SUMMARIES for c in mutants)
    assert any(c.status == "ok" and c.score is not None for c in mutants)
    assert all("def transform" in (c.code or "") for c in cands)
