"""Multi-fidelity promotion on digits: a 4-candidate run with [search.promote] re-trains its
top 2 at 2 epochs and the better one at 3 epochs with 2 seeds; the results sit beside the
proxy scores, `nasloop show` / `trace` and the HTML report show them, and resumed to a
larger budget the next round reuses them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.inspect.rundir import RunView

pytestmark = pytest.mark.slow

CONFIG = """[search.promote]
enabled = true
every = 4
top = 2
epochs = [2, 3]
eta = 2
seeds = 2
"""


def nasloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nasloop", *args], capture_output=True,
                          text=True, timeout=900)


def test_a_run_promotes_its_top_candidates_and_shows_them(tmp_path: Path) -> None:
    config = tmp_path / "promote.toml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    proc = nasloop("run", "--config", str(config), "--budget", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    with RunView(out) as view:
        cands = view.candidates()
        got = view.promotions()
    top = sorted((c for c in cands if c.status == "ok"), key=lambda c: (-c.score, c.id))[:2]
    rung1 = [(p.candidate_id, p.seed) for p in got if p.epochs == 2]
    rung2 = [(p.candidate_id, p.seed) for p in got if p.epochs == 3]
    assert sorted(rung1) == sorted((c.id, 0) for c in top)
    winner = max((p for p in got if p.epochs == 2), key=lambda p: (p.score, -p.candidate_id))
    assert sorted(rung2) == [(winner.candidate_id, 0), (winner.candidate_id, 1)]
    assert all(p.status == "ok" and 0 <= p.score <= 1 for p in got)
    # the proxy scores are the search's, not overwritten by the longer trainings
    assert all(c.metrics and c.score == c.metrics["val_accuracy"] for c in top)
    shown = json.loads(nasloop("show", str(out), str(winner.candidate_id), "--json").stdout)
    assert [(p["epochs"], p["seed"]) for p in shown["promoted"]] == [(2, 0), (3, 0), (3, 1)]
    text = nasloop("show", str(out), str(winner.candidate_id)).stdout
    assert "promoted" in text and "3 ep" in text
    trace = nasloop("trace", str(out)).stdout
    assert "promoted:    2 ep" in trace
    from nasloop.inspect.report import build_report

    html = build_report(out)
    assert '<table id="promotions">' in html and html.count('<tr class="promoted">') == 2
    assert "<th>3 epochs</th>" in html and "(2 seeds)" in html
    # resumed to a larger budget: another round at the new budget reuses what was trained
    proc = nasloop("resume", str(out), "--budget", "5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    with RunView(out) as view:
        cands = view.candidates()
        later = view.promotions()
    kept = {(p.candidate_id, p.epochs, p.seed): p.score for p in later}
    assert all(kept[(p.candidate_id, p.epochs, p.seed)] == p.score for p in got)
    top = sorted((c for c in cands if c.status == "ok"), key=lambda c: (-c.score, c.id))[:2]
    assert {c.id for c in top} <= {cid for cid, e, _ in kept if e == 2}
