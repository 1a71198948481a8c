"""The final report's pieces: which candidates, which jobs, and the statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_heuristic_no_waste import cand  # sibling test module

from nasloop.config import build_config
from nasloop.final import FinalRow, SeedRun, pick, summarise
from nasloop.tasks.base import Objective
from nasloop.tasks.registry import build_task


def _row(cid: int, rank: int, scores: list[float | None]) -> FinalRow:
    runs = [SeedRun(seed=i, status="ok" if s is not None else "failed", score=s,
                    failure_class=None if s is not None else "timeout")
            for i, s in enumerate(scores)]
    return FinalRow(id=cid, proxy_rank=rank, proxy_score=1.0 - rank / 10, params=1, runs=runs)


def test_pick_takes_the_top_trained_by_proxy_score() -> None:
    cands = [cand(1, [1], 0.5), cand(2, [2], 0.9), cand(3, [3], None, "failed", "params"),
             cand(4, [4], 0.9), cand(5, [5], 0.7)]
    assert [c.id for c in pick(cands, Objective(), 3)] == [2, 4, 5]
    assert [c.id for c in pick(cands, Objective(direction="min"), 2)] == [1, 5]


def test_mean_spread_final_rank_and_rank_correlation() -> None:
    rows = [_row(1, 1, [0.90, 0.94]), _row(2, 2, [0.95, 0.97]), _row(3, 3, [0.80, None]),
            _row(4, 4, [None, None])]
    rho, p = summarise(rows, Objective(metric="test_accuracy"))
    assert rows[0].mean == pytest.approx(0.92) and rows[0].std == pytest.approx(0.0282843, 1e-4)
    assert (rows[0].min, rows[0].max) == (0.90, 0.94)
    assert rows[2].mean == pytest.approx(0.80) and rows[2].std == 0.0
    assert rows[3].mean is None and rows[3].final_rank is None
    assert [r.final_rank for r in rows[:3]] == [2, 1, 3]
    # proxy ranks 1, 2, 3 against final ranks 2, 1, 3: rho = 1 - 6 * 2 / (3 * 8) = 0.5
    assert rho == pytest.approx(0.5) and p is not None


def test_rank_correlation_is_undefined_when_it_cannot_be_measured() -> None:
    assert summarise([_row(1, 1, [0.9])], Objective()) == (None, None)
    assert summarise([_row(1, 1, [0.9]), _row(2, 2, [0.9])], Objective()) == (None, None)


def test_final_job_trains_longer_on_the_search_split_and_predicts_the_test_split() -> None:
    task = build_task(build_config({"run": {"seed": 3}}))
    job = task.final_job(7, "code", epochs=10, seed=4)
    assert job is not None and job.seed == 4 and job.data["split_seed"] == 3
    assert job.params["epochs"] == 10 and job.params["predict_test"] is True
    assert job.time_limit_s == pytest.approx(task.job(7, "code").time_limit_s * 10)
    assert task.final_objective is not None and task.final_objective.metric == "test_accuracy"
    many = build_task(build_config({"data": {"datasets": ["digits", "digits-16px"]}}))
    assert many.final_job(7, "code", epochs=2, seed=0) is None


def test_the_split_follows_split_seed_not_the_training_seed(tmp_path: Path) -> None:
    from nasloop.data.loaders import load_dataset
    from nasloop.data.split_files import read_labels
    from nasloop.tasks.image_classification.runner import ImageClassificationRunner

    task = build_task(build_config({"run": {"seed": 0}}))
    job = task.final_job(1, "code", epochs=2, seed=5)
    assert job is not None
    (tmp_path / "s").mkdir()
    (tmp_path / "t").mkdir()
    ImageClassificationRunner.prepare(job, tmp_path / "s", tmp_path / "t")
    labels = read_labels(tmp_path / "t")
    search = load_dataset("digits", None, 0)
    other = load_dataset("digits", None, 5)
    assert np.array_equal(labels["test"], search.test_y.numpy())
    assert not np.array_equal(labels["test"], other.test_y.numpy())


def test_the_report_shows_the_final_table_and_a_damaged_file_is_one_line(
        tmp_path: Path) -> None:
    from test_inspect_queries import make_run  # sibling test module

    from nasloop.final import FinalReport
    from nasloop.inspect.report import build_report
    from nasloop.inspect.rundir import InspectError, RunView
    from nasloop.rundir import RunDir

    run = make_run(tmp_path / "run")
    assert "Final test report" not in build_report(run)
    rows = [_row(1, 1, [0.9, 0.94]), _row(2, 2, [0.95, None])]
    rho, p = summarise(rows, Objective(metric="test_accuracy"))
    report = FinalReport(metric="test_accuracy", proxy_metric="val_accuracy", proxy_epochs=1,
                         epochs=10, seeds=[0, 1], split_seed=0, rows=rows, spearman=rho,
                         spearman_p=p, wall_s=1.0)
    RunDir(run).final.write_text(report.model_dump_json())
    html = build_report(run)
    assert "Final test report" in html and html.count('<tr class="final">') == 2
    assert "0.9200" in html and "1: timeout" in html and "seeds [0, 1]" in html
    RunDir(run).final.write_text("{not json")
    with RunView(run) as view, pytest.raises(InspectError, match="is not a final report"):
        view.final()
