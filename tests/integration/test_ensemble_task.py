"""The ensemble task for real: assembled ensembles trained one epoch on digits in the
sandbox (`nasloop corpus moe --evaluate`), and a short ensemble search killed with -9 and
resumed."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive
from nasloop.tasks.ensemble.assemble import families_of

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "moe_families.py"


def _families(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location("moe_families", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_families(folder)


def _corpus(fams: Path, out: Path, count: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NASLOOP, "corpus", "moe", "--families", str(fams), "--k", "4", "--sampler",
         "stratified", "--count", str(count), "--evaluate", "--out", str(out), "--json"],
        capture_output=True, text=True, timeout=600)


def test_assembled_ensembles_train_one_epoch_on_digits(tmp_path: Path) -> None:
    fams, out = _families(tmp_path / "families"), tmp_path / "moe.jsonl"
    proc = _corpus(fams, out, 3)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    for r in records:
        assert r["failure"] is None and 0.0 <= r["metrics"]["val_accuracy"] <= 1.0
        assert r["metrics"]["epochs"] == 1.0 and r["params"] > 0
        assert tuple(r["families"]) == families_of(r["code"])
    cov = json.loads(proc.stdout)
    assert cov["ensembles"] == 3 and cov["scored"] == 3
    assert max(cov["appearances"].values()) - min(cov["appearances"].values()) <= 1
    more = _corpus(fams, out, 4)  # resumes: one more, the first three kept as they were
    assert more.returncode == 0, more.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert len(lines) == 4 and [json.loads(x) for x in lines[:3]] == records
    other = subprocess.run(
        [*NASLOOP, "corpus", "moe", "--families", str(fams), "--sampler", "lexicographic",
         "--count", "4", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert other.returncode == 2 and "other families or settings" in other.stderr


def _done(db_path: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        n = db.execute("SELECT COUNT(*) FROM candidates WHERE status IN ('ok','failed')"
                       ).fetchone()[0]
        db.close()
    except sqlite3.OperationalError:
        return 0
    return int(n)


def test_ensemble_search_resumes_after_kill(tmp_path: Path) -> None:
    fams = _families(tmp_path / "families")
    cfg = tmp_path / "ensemble.toml"
    cfg.write_text(f'[task]\nkind = "ensemble"\nfamilies = ["{fams}"]\nk = 4\ninitial = 3\n'
                   "[memory]\nnovelty_threshold = 0.98\n")  # gate edits are small
    out, budget = tmp_path / "run", 10
    proc = subprocess.Popen([*NASLOOP, "run", "--config", str(cfg), "--budget", str(budget),
                             "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _done(out / "archive.sqlite") < 4:
            assert proc.poll() is None, "the run stopped before it could be killed"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(1.0)  # its sandbox workers die with it
    a = Archive(out / "archive.sqlite")
    before = {c.id: c.score for c in a.candidates() if c.status in ("ok", "failed")}
    a.close()
    assert 4 <= len(before) < budget
    res = subprocess.run([*NASLOOP, "resume", str(out)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    a = Archive(out / "archive.sqlite")
    after = a.candidates()
    a.close()
    assert len(after) == budget and [c.step for c in after] == list(range(budget))
    for c in after:
        if c.id in before:
            assert c.eval_attempts <= 1 and c.score == before[c.id]
    seeds = [c for c in after if c.origin.startswith("seed:")]
    assert len(seeds) == 3
    mutated = [c for c in after if c.origin == "heuristic"]
    assert mutated and all(c.modification.split("(")[0] in ("swap_expert", "gate")
                           for c in mutated)
    assert any(c.status == "ok" for c in mutated)
    cov = json.loads((out / "ensemble_coverage.json").read_text())
    assert cov["ensembles"] >= 4 and set(cov["appearances"]) == {p.stem for p in fams.glob("*.py")}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["candidates_generated"] == budget
    report = subprocess.run([*NASLOOP, "report", str(out)], capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (out / "report.html").read_text()
    assert "Ensemble coverage and yield" in html and 'id="moe-pairs"' in html
