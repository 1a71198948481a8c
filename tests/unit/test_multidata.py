"""Several datasets per candidate: the config, the objective, combining per-dataset results
and the normalised rescoring against the archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasloop.config import ConfigError, build_config
from nasloop.memory.archive import Archive
from nasloop.tasks.image_classification import multidata
from nasloop.tasks.image_classification.multidata import metric_key, per_dataset, split_key
from nasloop.tasks.registry import build_task

THREE = ["digits", "digits-inverted", "digits-16px"]


def test_config_and_objective() -> None:
    c = build_config({"data": {"datasets": THREE, "score": "normalized"}})
    assert c.data.dataset == THREE[0]
    task = build_task(c)
    assert task.objective.metric == "val_accuracy_normalized"
    assert "digits-inverted" in task.brief().line
    named = build_task(build_config({"data": {"datasets": THREE, "score": "digits-16px"}}))
    assert named.objective.metric == "val_accuracy@digits-16px"
    assert build_task(build_config({"data": {"datasets": THREE}})).objective.metric == \
        "val_accuracy_mean"
    job = named.job(7, "code")
    assert [s["dataset"] for s in job.data["datasets"]] == THREE
    assert job.time_limit_s == pytest.approx(3 * c.sandbox.limits.time_s)


@pytest.mark.parametrize(("data", "says"), [
    ({"datasets": ["digits"]}, "2 or more"),
    ({"datasets": ["digits", "digits"]}, "twice"),
    ({"datasets": THREE, "score": "cifar10"}, "score must be"),
])
def test_bad_dataset_settings_are_one_line_errors(data, says) -> None:
    with pytest.raises(ConfigError, match=says):
        build_config({"data": data})


def test_metric_keys_round_trip() -> None:
    key = metric_key("val_accuracy", "digits-16px")
    assert key == "val_accuracy@digits-16px" and split_key(key) == ("val_accuracy",
                                                                    "digits-16px")
    assert split_key("params") == ("params", None)
    assert per_dataset({key: 0.5, "val_accuracy_mean": 0.4, "params@digits-16px": 9}) == {
        "digits-16px": 0.5}


def _ok(acc: float, params: float, train_s: float) -> dict:
    return {"candidate_id": 3, "status": "ok", "form": "bare", "wall_s": 1.0,
            "metrics": {"val_accuracy": acc, "params": params, "train_s": train_s,
                        "epochs": 1.0}}


def test_combine_keeps_each_dataset_and_the_mean() -> None:
    out = multidata.combine({"digits": _ok(0.8, 100, 2.0), "digits-16px": _ok(0.6, 90, 1.0)})
    m = out["metrics"]
    assert out["status"] == "ok" and out["wall_s"] == 2.0
    assert m["val_accuracy@digits"] == 0.8 and m["val_accuracy@digits-16px"] == 0.6
    assert m["params@digits"] == 100 and m["params@digits-16px"] == 90
    assert m["val_accuracy_mean"] == pytest.approx(0.7)
    assert m["train_s"] == 3.0 and m["epochs"] == 2.0 and m["params"] == 100
    assert "val_accuracy" not in m


def test_combine_fails_with_the_dataset_that_failed() -> None:
    bad = {"candidate_id": 3, "status": "failed", "failure_class": "shape",
           "message": "mat1 and mat2", "wall_s": 0.5}
    out = multidata.combine({"digits": _ok(0.8, 100, 2.0), "digits-16px": bad})
    assert out["status"] == "failed" and out["failure_class"] == "shape"
    assert out["message"] == "on digits-16px: mat1 and mat2"
    assert "val_accuracy_mean" not in out["metrics"]


def test_rescore_divides_by_each_datasets_best_so_far(tmp_path: Path) -> None:
    a = Archive(tmp_path / "archive.sqlite")

    def add(step: int, accs: dict[str, float]) -> int:
        cid = a.add_candidate(step, parent_id=None, origin="m", modification="m",
                              code=f"# {step}", diff=None, gen_s=0.0)
        a.set_ok(cid, form="bare", score=0.0, eval_wall_s=1.0,
                 metrics={metric_key("val_accuracy", d): v for d, v in accs.items()})
        return cid

    x = add(0, {"digits": 0.8, "digits-16px": 0.4})
    y = add(1, {"digits": 0.4, "digits-16px": 0.5})
    multidata.rescore(a)
    got = {c.id: c.score for c in a.candidates()}
    assert got[x] == pytest.approx((1.0 + 0.8) / 2) and got[y] == pytest.approx((0.5 + 1) / 2)
    z = add(2, {"digits": 1.0, "digits-16px": 0.25})  # a new best on digits lowers x
    multidata.rescore(a)
    got = {c.id: c for c in a.candidates()}
    assert got[x].score == pytest.approx((0.8 + 0.8) / 2)
    assert got[z].score == pytest.approx((1.0 + 0.5) / 2)
    assert got[x].metrics["val_accuracy_normalized"] == pytest.approx(got[x].score)
    a.close()


def _multi_run(run: Path) -> Path:
    """A run of two candidates scored on two datasets, as the loop writes it."""
    from nasloop.memory.triples import Triple

    run.mkdir()
    a = Archive(run / "archive.sqlite")
    a.set_meta("config", {"data": {"datasets": ["digits", "digits-16px"]}})
    a.set_meta("objective", {"metric": "val_accuracy_mean", "direction": "max"})
    for step, (x, y) in enumerate(((0.81, 0.42), (0.55, 0.73))):
        cid = a.add_candidate(step, parent_id=None, origin=f"seed:s{step}",
                              modification=f"seed:s{step}", code=f"# {step}\n", diff=None,
                              gen_s=0.0)
        metrics = {metric_key("val_accuracy", "digits"): x,
                   metric_key("val_accuracy", "digits-16px"): y,
                   metric_key("params", "digits"): 100.0, "val_accuracy_mean": (x + y) / 2}
        a.set_ok(cid, form="bare", score=(x + y) / 2, metrics=metrics, eval_wall_s=1.0)
        a.add_triple(Triple(step=step, candidate_id=cid, problem="seed", modification="s",
                            outcome="ok"))
    a.close()
    return run


def test_inspection_shows_each_datasets_accuracy(tmp_path: Path) -> None:
    from rich.console import Console

    from nasloop.inspect.queries import candidate_detail, run_overview, timeline
    from nasloop.inspect.report import build_report
    from nasloop.inspect.rundir import RunView
    from nasloop.inspect.text import runs_table, show_renderables, trace_entry

    run = _multi_run(tmp_path / "run")
    with RunView(run) as view:
        ov = run_overview(view)
        rows = timeline(view)
        detail = candidate_detail(view, 2)
    assert ov["best_candidate"] == 2 and ov["best_per_dataset"] == {"digits": 0.55,
                                                                    "digits-16px": 0.73}
    assert [r["per_dataset"] for r in rows] == [{"digits": 0.81, "digits-16px": 0.42},
                                                {"digits": 0.55, "digits-16px": 0.73}]
    console = Console(width=200, record=True)
    console.print(runs_table([ov]))
    for r in rows:
        console.print("\n".join(trace_entry(r)))
    for part in show_renderables(detail, full=False):
        console.print(part)
    text = console.export_text()
    assert "best per dataset" in text and "digits-16px 0.7300" in text
    assert "per dataset: digits 0.8100  digits-16px 0.4200" in text
    assert "test_accuracy" in text and "0.5500" in text
    html = build_report(run, top_k=2)
    assert "<th>digits</th><th>digits-16px</th>" in html
    assert "digits 0.8100, digits-16px 0.4200" in html


def test_single_dataset_runs_show_no_per_dataset_columns(tmp_path: Path) -> None:
    from rich.console import Console

    from nasloop.inspect.text import runs_table

    console = Console(width=200, record=True)
    console.print(runs_table([{"path": "r", "status": "finished", "candidates": 1,
                               "valid_rate": 1.0, "best_metric": 0.5, "best_candidate": 1,
                               "wall_s": 1.0, "best_per_dataset": {}}]))
    assert "per dataset" not in console.export_text()


def test_a_normalized_run_rescores_after_each_batch(tmp_path: Path) -> None:
    task = build_task(build_config({"data": {"datasets": ["digits", "digits-16px"],
                                             "score": "normalized"}}))
    a = Archive(tmp_path / "archive.sqlite")
    for step, (x, y) in enumerate(((0.8, 0.4), (0.4, 0.8))):
        cid = a.add_candidate(step, parent_id=None, origin="m", modification="m",
                              code=f"# {step}", diff=None, gen_s=0.0)
        a.set_ok(cid, form="bare", score=(x + y) / 2, eval_wall_s=1.0,
                 metrics={metric_key("val_accuracy", "digits"): x,
                          metric_key("val_accuracy", "digits-16px"): y})
    task.after_results(a)
    assert [c.score for c in a.candidates()] == [pytest.approx(0.75)] * 2
    mean = build_task(build_config({"data": {"datasets": ["digits", "digits-16px"]}}))
    b = Archive(tmp_path / "b.sqlite")
    cid = b.add_candidate(0, parent_id=None, origin="m", modification="m", code="#",
                          diff=None, gen_s=0.0)
    b.set_ok(cid, form="bare", score=0.6, eval_wall_s=1.0,
             metrics={metric_key("val_accuracy", "digits"): 0.8,
                      metric_key("val_accuracy", "digits-16px"): 0.4})
    mean.after_results(b)
    assert b.candidates()[0].score == 0.6  # the mean score is left as it is
    a.close()
    b.close()
