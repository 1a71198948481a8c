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
