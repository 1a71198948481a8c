"""Queries over a run directory: a real archive written through the Archive API."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from nasloop.inspect.queries import (
    ancestors,
    candidate_detail,
    run_overview,
    select,
    timeline,
)
from nasloop.inspect.rundir import InspectError, RunView, find_runs
from nasloop.memory.archive import Archive
from nasloop.memory.triples import Triple

SEED = "import torch\nclass Net(torch.nn.Module):\n    pass\n"


def make_run(run: Path) -> Path:
    """Four steps: a seed, a better child, a child that fails (shape), a duplicate."""
    run.mkdir(parents=True)
    a = Archive(run / "archive.sqlite")
    a.set_meta("run_id", "unit-run")
    a.set_meta("config", {"run": {"budget": 4}})
    seed = a.add_candidate(0, parent_id=None, origin="seed:s", modification="seed:s",
                           code=SEED, diff=None, gen_s=0.0)
    a.set_ok(seed, form="bare", score=0.5, metrics={"val_accuracy": 0.5, "params": 1000.0},
             eval_wall_s=1.0, log_tail="epoch 1 loss 1.2")
    a.add_triple(Triple(step=0, candidate_id=seed, problem="seed architecture",
                        modification="seed:s", outcome="val_accuracy 0.5000"))
    kids = []
    for step, mod in ((1, "width(x2)"), (2, "layer(add)"), (3, "width(x2) again")):
        answer = {"parent_id": seed, "problem": f"gap at {step}", "modification": mod,
                  "expected_effect": "raise val_accuracy"}
        a.add_agent_call(step, "improver", "heuristic", f"prompt {step}", json.dumps(answer), 0.1)
        a.add_agent_call(step, "generator", "m", f"gen prompt {step}", "code", 0.2,
                         ok=step != 2, error=None if step != 2 else "bad diff",
                         tokens_in=10, tokens_out=20)
        kids.append(a.add_candidate(step, parent_id=seed if step < 3 else None, origin="m",
                                    modification=mod, code=SEED + f"# {step}\n",
                                    diff=f"--- a/x\n+++ b/x\n+# {step}\n", gen_s=0.1))
    a.set_ok(kids[0], form="bare", score=0.75, metrics={"val_accuracy": 0.75, "params": 3000.0},
             eval_wall_s=1.0)
    a.set_failed(kids[1], "shape", "mat1 and mat2 shapes cannot be multiplied\nmore")
    a.set_duplicate(kids[2], kids[0], f"structurally identical to #{kids[0]}")
    outcomes = ("val_accuracy 0.7500 (+0.2500 vs parent)", "failed: shape", "failed: duplicate")
    for i, (cid, outcome) in enumerate(zip(kids, outcomes, strict=True), 1):
        a.add_triple(Triple(step=i, candidate_id=cid, problem=f"gap at {i}",
                            modification=f"m{i}", outcome=outcome))
    a.close()
    (run / "summary.json").write_text(json.dumps({"status": "finished", "wall_s": 12.5}))
    return run


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path / "runs" / "a")


def test_overview_counts_and_best(run: Path) -> None:
    with RunView(run) as view:
        ov = run_overview(view)
    assert ov["run_id"] == "unit-run" and ov["status"] == "finished" and ov["budget"] == 4
    assert (ov["candidates"], ov["valid"], ov["failed"], ov["duplicates"]) == (4, 2, 1, 1)
    assert ov["valid_rate"] == 0.5
    assert ov["best_metric"] == 0.75 and ov["best_candidate"] == 2
    assert ov["wall_s"] == 12.5


def test_timeline_rows_and_filters(run: Path) -> None:
    with RunView(run) as view:
        rows = timeline(view)
        later = timeline(view, after_step=1)
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert [r["step"] for r in later] == [2, 3]
    assert [r["outcome"] for r in rows] == ["ok", "ok", "shape", "duplicate"]
    assert rows[0]["instruction"] is None and rows[0]["calls"] == []
    assert rows[1]["instruction"]["modification"] == "width(x2)"
    assert rows[2]["failure_message"] == "mat1 and mat2 shapes cannot be multiplied"
    assert rows[3]["duplicate_of"] == 2
    assert [r["step"] for r in select(rows, failure="shape")] == [2]
    gen = select(rows, role="generator")
    assert [r["step"] for r in gen] == [1, 2, 3]
    assert all([c["role"] for c in r["calls"]] == ["generator"] for r in gen)
    assert gen[1]["calls"][0]["ok"] is False and gen[1]["calls"][0]["error"] == "bad diff"
    with pytest.raises(InspectError, match="unknown role"):
        select(rows, role="critic")


def test_candidate_detail_has_calls_log_and_lineage(run: Path) -> None:
    with RunView(run) as view:
        d = candidate_detail(view, 2)
        seed = candidate_detail(view, 1)
        with pytest.raises(InspectError, match="no candidate #99"):
            candidate_detail(view, 99)
    assert [a["id"] for a in d["ancestors"]] == [1, 2]
    assert d["diff"].startswith("--- a/x") and d["code"].endswith("# 1\n")
    assert [(c["role"], c["prompt"]) for c in d["calls"]] == [
        ("improver", "prompt 1"), ("generator", "gen prompt 1")]
    assert seed["log_tail"] == "epoch 1 loss 1.2" and seed["children"] == [2, 3]
    json.dumps(d)  # JSON-ready


def test_ancestors_stop_at_a_cycle(run: Path) -> None:
    with RunView(run) as view:
        by_id = {c.id: c for c in view.candidates()}
    by_id[1] = by_id[1].model_copy(update={"parent_id": 2})
    assert ancestors(by_id, 2) == [1, 2]


def test_reading_leaves_the_run_byte_for_byte(run: Path) -> None:
    before = digest(run)
    with RunView(run) as view:
        timeline(view)
        run_overview(view)
    assert digest(run) == before


def test_find_runs_and_missing_run(tmp_path: Path, run: Path) -> None:
    make_run(tmp_path / "runs" / "nested" / "b")
    assert find_runs(tmp_path / "runs") == [run, tmp_path / "runs" / "nested" / "b"]
    assert find_runs(run) == [run]
    with pytest.raises(InspectError, match="holds no run"):
        RunView(tmp_path)
