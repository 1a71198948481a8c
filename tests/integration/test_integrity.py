"""Result integrity (issue 16): every forgery, label hunt and poison pill under
tests/fixtures/integrity, through the real sandbox, ends as its `# expect:` line says:
never a score above chance, and malformed results are `bad-result`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasloop.sandbox import bwrap
from nasloop.sandbox.executor import LocalExecutor
from nasloop.tasks.image_classification.jobs import eval_job

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INTEGRITY = FIXTURES / "integrity"
CHANCE = 0.25  # digits has 10 balanced classes: a constant or random guess scores ~0.1


def expectation(path: Path) -> str | None:
    first = path.read_text().splitlines()[0]
    return first.split(":", 1)[1].strip() if first.startswith("# expect:") else None


CASES = sorted(p for p in INTEGRITY.glob("*.py") if expectation(p))


def candidate(path: Path) -> str:
    """The fixture's code, after the shared parts its `# with:` lines name."""
    text = path.read_text()
    shared = [line.split(":", 1)[1].strip() for line in text.splitlines()
              if line.startswith("# with:")]
    return "".join((INTEGRITY / name).read_text() for name in shared) + text


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    if bwrap.bwrap_path() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap must be usable under CI (apt-get install -y bubblewrap)")
        pytest.skip("bubblewrap is not usable on this machine")
    with LocalExecutor(isolation="bwrap") as ex:
        yield ex


def _run(executor: LocalExecutor, code: str, **fields):
    job = eval_job(code, epochs=1, time_limit_s=90, **fields)
    return executor.result(executor.submit(job))


def test_the_corpus_covers_each_attack() -> None:
    assert len(CASES) >= 16
    assert {expectation(p) for p in CASES} >= {"chance", "bad-result", "params", "runtime",
                                               "ok"}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_integrity_fixture(executor: LocalExecutor, path: Path) -> None:
    res = _run(executor, candidate(path))
    expect = expectation(path)
    got = f"{res.status} {res.failure_class}: {res.message} {res.metrics} | {res.log_tail}"
    accuracy = res.metrics.get("val_accuracy")
    print(path.stem, "->", got[:300])
    if expect == "chance":  # it ran to the end and was scored, at chance level
        assert res.status == "ok" and accuracy is not None and accuracy < CHANCE, got
    elif expect == "chance-or-failed":  # stopped by the sandbox, or scored at chance
        assert res.failure_class != "infrastructure", got
        assert accuracy is None or accuracy < CHANCE, got
    elif expect == "ok":  # an honest learner: scored as it learned
        assert res.status == "ok" and accuracy is not None and accuracy > 0.5, got
    else:
        assert res.status == "failed" and res.failure_class == expect, got
        assert accuracy is None, got
    if expect == "params":  # counted from the real weights, whichever side stopped it
        count = res.metrics.get("params") or float((res.message or "0").split()[0])
        assert count > 3_000_000, got
    if path.stem == "forged_counts":  # counted by the auditor from the model's graph
        assert res.metrics["params"] == 32 * 32 * 48 + 48 + 48 * 10 + 10, got
        assert res.metrics["flops"] > 50_000, got
    if path.stem == "markup_exception":
        assert "[/]" in (res.message or ""), got  # kept as text; recording neutralises it
    if path.stem == "forged_two_lines":  # one result per candidate; the rest is logged
        assert "after the result were ignored" in (res.log_tail or ""), got
    if path.stem == "forged_ok_import":  # the loading thread may not write the channel
        assert "PermissionError" in (res.message or ""), got
    if path.stem == "forged_ok_no_metric":  # the audit's time is the worker's to measure
        assert res.audit_s is None, got


def test_an_honest_candidate_still_learns(executor: LocalExecutor) -> None:
    res = _run(executor, (FIXTURES / "candidates" / "bare_noargs.py").read_text())
    assert res.status == "ok" and res.metrics["val_accuracy"] > 0.5, res
    assert res.audit_s is not None and 0 < res.audit_s < res.wall_s, res


@pytest.mark.parametrize("name", ["loader_lookup", "memorise_validation"])
def test_the_lookups_are_real_attacks_where_labels_are_reachable(name: str) -> None:
    """Control: in a process that holds the labels (in-process training, as benches do),
    the same files score far above chance, so the sandbox results above mean something."""
    from nasloop.data.loaders import load_dataset
    from nasloop.tasks.image_classification.scoring import run_in_process

    code = candidate(INTEGRITY / f"{name}.py")
    job = eval_job(code, epochs=1)
    splits = load_dataset("digits", None, job.seed)
    keep = splits.val_y  # what a trusted process holds: the labels in memory
    res = run_in_process(job, splits)
    assert res["status"] == "ok" and res["metrics"]["val_accuracy"] > 0.9, res
    assert keep is splits.val_y


def test_a_run_of_poison_pill_seeds_finishes_and_resumes(tmp_path: Path) -> None:
    """Seeds whose results are poison (ok without metric, NaN parameter count, markup in
    the error text) are recorded as failures; the run, its resume and the inspection
    commands all finish."""
    import json
    import sqlite3
    import subprocess
    import sys

    pills = ["forged_ok_no_metric", "forged_nan_params", "markup_exception",
             "forged_with_predictions"]
    files = []
    for name in pills:  # seed files as a user would have them: whole
        (tmp_path / f"{name}.py").write_text(candidate(INTEGRITY / f"{name}.py"))
        files.append(str(tmp_path / f"{name}.py"))
    honest = str(FIXTURES / "candidates" / "bare_noargs.py")
    config = tmp_path / "search.toml"
    config.write_text(f"[seeds]\nbuiltin = false\nfiles = {json.dumps([*files, honest])}\n"
                      "[train]\nepochs = 1\n", encoding="utf-8")
    out = tmp_path / "run"

    def nasloop(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "nasloop", *args], capture_output=True,
                              text=True, timeout=600)

    first = nasloop("run", "--config", str(config), "--budget", "6", "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    again = nasloop("resume", str(out), "--budget", "7")
    assert again.returncode == 0, again.stderr[-2000:]
    for args in (("trace", str(out)), ("show", str(out), "3"), ("report", str(out))):
        shown = nasloop(*args)
        assert shown.returncode == 0, (args, shown.stderr[-2000:])
        assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout, args
    db = sqlite3.connect(out / "archive.sqlite")
    rows = db.execute("SELECT origin, status, failure_class, score FROM candidates "
                      "ORDER BY step").fetchall()
    db.close()
    assert len(rows) == 7
    by_seed = {r[0]: r for r in rows if r[0].startswith("seed:")}
    for name in ("forged_ok_no_metric", "forged_nan_params", "forged_with_predictions"):
        assert by_seed[f"seed:{name}"][1:3] == ("failed", "bad-result"), rows
    assert by_seed["seed:markup_exception"][2] == "runtime", rows
    best = max(r[3] for r in rows if r[3] is not None)
    assert best == by_seed["seed:bare_noargs"][3] or best > 0.5  # the honest one leads


@pytest.mark.parametrize("layout", ["mnist", "imagefolder", "plain-folder"])
def test_the_dataset_files_on_disk_are_hidden(executor: LocalExecutor, layout: str) -> None:
    """The label hunt through nasloop's own loader, on a dataset laid out on disk: the
    dataset's files (and so its labels) are not visible in the sandbox. The data lives
    outside /tmp and is world-readable (the sandbox's /tmp is private and a 0700 folder is
    unreadable to it anyway, either of which would hide a bug: a plain-directory image
    folder was readable and its lookup scored 1.0)."""
    import shutil
    import tempfile

    tmp_path = Path(tempfile.mkdtemp(prefix="nasloop-test-", dir="/var/tmp"))
    tmp_path.chmod(0o755)  # readable by anyone, as a user's data folder usually is
    try:
        _hunt_labels_on_disk(executor, tmp_path, layout)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _hunt_labels_on_disk(executor: LocalExecutor, tmp_path: Path, layout: str) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("datasets_on_disk",
                                                  FIXTURES / "datasets_on_disk.py")
    disk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(disk)  # type: ignore[union-attr]
    if layout == "mnist":
        disk.write_mnist(tmp_path)
        fields, classes = {"dataset": "mnist", "data_dir": str(tmp_path)}, 10
    else:  # the folder named with its prefix, or as a plain directory
        disk.write_image_folder(tmp_path / "folder", classes=3, per_class=30)
        prefix = "imagefolder:" if layout == "imagefolder" else ""
        fields, classes = {"dataset": f"{prefix}{tmp_path / 'folder'}"}, 3
    res = _run(executor, candidate(INTEGRITY / "loader_lookup.py"), **fields)
    assert "files visible: 0" in (res.log_tail or ""), res
    assert "lookup failed" in (res.log_tail or ""), res
    # scored at a constant guess's level (~1/classes), or stopped (torchvision's own library
    # loading is refused in the sandbox on CPU)
    assert res.metrics.get("val_accuracy", 0.0) < 1.5 / classes, res


def test_the_built_in_seeds_score_as_they_did_before_the_audit(
        executor: LocalExecutor, request: pytest.FixtureRequest) -> None:
    """The audited path (graph recorded, run by the auditor) gives each built-in seed the
    accuracy, FLOPs and parameter count the candidate's own predictions and weight shapes
    gave before (the unaudited path, in-process here)."""
    import torch

    from nasloop.data.loaders import load_dataset
    from nasloop.data.split_files import candidate_view
    from nasloop.tasks.image_classification.scoring import score
    from nasloop.tasks.image_classification.seeds import list_seeds
    from nasloop.tasks.image_classification.trainer import run_job

    splits = load_dataset("digits", None, 0)
    labels = {"val": splits.val_y.numpy(), "test": splits.test_y.numpy(),
              "num_classes": splits.num_classes}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the candidate's process trains (job.threads == 1)
    request.addfinalizer(lambda: torch.set_num_threads(threads))
    for name, code in list_seeds().items():
        job = eval_job(code, epochs=1, time_limit_s=90)
        before = score(run_job(job, candidate_view(splits)), labels, 2_000_000)
        now = executor.result(executor.submit(job))
        assert now.status == "ok", (name, now)
        for key in ("val_accuracy", "params", "flops"):
            assert now.metrics[key] == before["metrics"][key], (name, key)


BIG_MODEL = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(32 * 32, 48)
        self.out = nn.Linear(48, 10)
        for i in range(2):  # 104 MB each: stored tensors, counted as parameters
            self.register_buffer(f"table{i}", torch.full((26_000_000,), float(i + 1)))

    def forward(self, x):
        bias = (self.table0[:1] + self.table1[:1]) * 0
        return self.out(self.hidden(x.flatten(1)).relu()) + bias
"""


def test_a_model_over_the_old_result_line_caps_is_audited(executor: LocalExecutor) -> None:
    """Two stored tensors of 104 MB each: over the 48 MiB one inline tensor may take and
    the ~190 MB of weights one result line held. They travel in the file of tensors beside
    the result (nasloop.sandbox.tensorfile); the auditor reads, runs and counts them."""
    res = _run(executor, BIG_MODEL, max_params=60_000_000)
    assert res.status == "ok", f"{res.failure_class}: {res.message} | {res.log_tail}"
    assert res.metrics["val_accuracy"] > 0.5, res.metrics
    small = 32 * 32 * 48 + 48 + 48 * 10 + 10
    assert res.metrics["params"] == 52_000_000 + small, res.metrics
