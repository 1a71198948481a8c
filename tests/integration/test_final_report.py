"""`nasloop final` on a short real run: the top candidates retrained in the sandbox, test
accuracy per seed, mean and spread, the rank correlation, final.json and the HTML report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NASLOOP = [sys.executable, "-m", "nasloop"]


def nasloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NASLOOP, *args], capture_output=True, text=True, timeout=600)


def test_final_on_a_short_run_reports_test_accuracy_and_rank_correlation(
        tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = nasloop("run", "--budget", "3", "--out", str(out))  # the three seeds
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = nasloop("final", str(out), "--top", "2", "--epochs", "2", "--seeds", "2", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report == json.loads((out / "final.json").read_text())
    assert (report["metric"], report["proxy_metric"]) == ("test_accuracy", "val_accuracy")
    assert report["epochs"] == 2 and report["seeds"] == [0, 1] and report["split_seed"] == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = report["rows"]
    assert [r["proxy_rank"] for r in rows] == [1, 2]
    assert rows[0]["id"] == summary["best_candidate"]
    for row in rows:
        scores = [r["score"] for r in row["runs"]]
        assert [r["seed"] for r in row["runs"]] == [0, 1]
        assert all(r["status"] == "ok" and 0.0 <= r["score"] <= 1.0 for r in row["runs"])
        assert row["mean"] == pytest.approx(sum(scores) / 2)
        assert row["std"] == pytest.approx(abs(scores[0] - scores[1]) / 2 ** 0.5)
    assert sorted(r["final_rank"] for r in rows) == [1, 2]
    if rows[0]["mean"] != rows[1]["mean"]:  # two ranks agree (+1) or disagree (-1)
        agree = rows[0]["final_rank"] == 1
        assert report["spearman"] == pytest.approx(1.0 if agree else -1.0)
    html_out = tmp_path / "report.html"
    proc = nasloop("report", str(out), "-o", str(html_out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = html_out.read_text()
    assert "Final test report" in html and html.count('<tr class="final">') == 2
    assert "Spearman rank correlation" in html


def test_final_refuses_what_it_cannot_report_on(tmp_path: Path) -> None:
    proc = nasloop("final", str(tmp_path / "nothing"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("nasloop final: ") and len(proc.stderr.splitlines()) == 1
