"""NN-Dataset trees: import -> export -> import gives identical records; bad files are
counted and named, not dropped silently."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from nasloop.cli import app
from nasloop.lemur.tree import RECORDS, read_records

CODE = "import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n"


def _tree(root: Path) -> None:
    nn, stat = root / "ab" / "nn" / "nn", root / "ab" / "nn" / "stat"
    nn.mkdir(parents=True)
    (nn / "AlexNet.py").write_text(CODE)
    (nn / "ResNet.py").write_text(CODE.replace("pass", "x = 1"))
    for name, epochs in (("AlexNet", (1, 2)), ("ResNet", (1,))):
        for e in epochs:
            d = stat / f"img-classification_cifar-10_acc_{name}"
            d.mkdir(parents=True, exist_ok=True)
            trials = [{"accuracy": 0.5 + e / 10, "batch": 32, "dropout": 0.1, "duration": 10**9,
                       "lr": 0.01, "momentum": 0.9, "transform": "norm_32", "uid": f"{name}{e}"}]
            (d / f"{e}.json").write_text(json.dumps(trials))
    (stat / "img-classification_cifar-10_acc_Missing").mkdir()
    (stat / "img-classification_cifar-10_acc_Missing" / "1.json").write_text("[]")
    (stat / "img-classification_cifar-10_acc_ResNet" / "3.json").write_text("{broken")


def test_round_trip(tmp_path: Path) -> None:
    _tree(tmp_path / "src")
    runner = CliRunner()
    first = runner.invoke(app, ["lemur", "import", str(tmp_path / "src"), "--out",
                                str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "2 models, 2 with results, 3 records" in first.output
    assert "no nn/Missing.py" in first.output and "3.json" in first.output
    records = read_records(tmp_path / "a" / RECORDS)
    assert [(r.name, r.epoch) for r in records] == [("AlexNet", 1), ("AlexNet", 2), ("ResNet", 1)]
    assert records[1].best == 0.7 and records[0].dataset == "cifar-10"
    assert (tmp_path / "a" / "seeds" / "ResNet.py").read_text() == CODE.replace("pass", "x = 1")
    out = runner.invoke(app, ["lemur", "export", str(tmp_path / "a" / RECORDS),
                              str(tmp_path / "tree2")])
    assert out.exit_code == 0, out.output
    again = runner.invoke(app, ["lemur", "import", str(tmp_path / "tree2"), "--out",
                                str(tmp_path / "b")])
    assert again.exit_code == 0, again.output
    assert read_records(tmp_path / "b" / RECORDS) == records


def test_not_a_tree_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["lemur", "import", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no NN-Dataset tree" in res.output


def test_a_runs_export_imports_back_to_its_records(tmp_path: Path) -> None:
    """`lemur export RUN OUT` writes the run's valid candidates only, one trial each with
    the run's settings and the candidate's score; importing that tree gives them back."""
    from nasloop.config import build_config
    from nasloop.lemur.run_export import run_records
    from nasloop.memory.archive import Archive
    from nasloop.rundir import RunDir

    run = tmp_path / "run"
    run.mkdir()
    cfg = build_config({"data": {"dataset": "digits-16px"},
                        "train": {"epochs": 3, "lr": 0.05}})
    archive = Archive(RunDir(run).archive)
    archive.set_meta("config", cfg.model_dump())
    archive.set_meta("objective", {"metric": "val_accuracy", "direction": "max"})
    for step, (status, score) in enumerate([("ok", 0.5), ("failed", None), ("ok", 0.75)]):
        cid = archive.add_candidate(step, parent_id=None, origin="seed:x", modification=None,
                                    code=CODE.replace("pass", f"step = {step}"), diff=None,
                                    gen_s=0.0)
        if status == "ok":
            archive.set_ok(cid, form="bare", score=score, metrics={"train_s": 2.0},
                           eval_wall_s=3.0)
        else:
            archive.set_failed(cid, failure_class="shape", message="bad", eval_wall_s=1.0)
    archive.close()
    runner = CliRunner()
    out = runner.invoke(app, ["lemur", "export", str(run), str(tmp_path / "tree")])
    assert out.exit_code == 0 and "2 records" in out.output, out.output
    back = runner.invoke(app, ["lemur", "import", str(tmp_path / "tree"), "--out",
                               str(tmp_path / "b")])
    assert back.exit_code == 0, back.output
    got = read_records(tmp_path / "b" / RECORDS)
    assert sorted(got, key=lambda r: r.name) == sorted(run_records(run), key=lambda r: r.name)
    assert [(r.task, r.dataset, r.metric, r.epoch) for r in got] == [
        ("img-classification", "digits-16px", "acc", 3)] * 2
    assert sorted(r.trials[0]["accuracy"] for r in got) == [0.5, 0.75]
    assert {r.trials[0]["lr"] for r in got} == {0.05}
