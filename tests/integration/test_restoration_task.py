"""The restoration task for real: short searches on noisy 8x8 digits with the heuristic
agents, in the sandbox, with and without a distilled teacher."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]


def _run(tmp_path: Path, budget: int, epochs: int, task: str) -> tuple[Path, dict]:
    config = tmp_path / "search.toml"
    config.write_text(f'[run]\nbudget = {budget}\n[data]\nimage_size = 8\n'
                      f'[task]\nkind = "restoration"\nepochs = {epochs}\n{task}')
    out = tmp_path / "run"
    proc = subprocess.run([*NASLOOP, "run", "--config", str(config), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out, json.loads((out / "summary.json").read_text())


def test_a_restoration_search_improves_psnr_over_the_seeds(tmp_path: Path) -> None:
    out, summary = _run(tmp_path, 4, 20, "")
    assert summary["metric"] == "val_psnr"
    assert summary["best_metric"] > summary["best_seed_metric"]
    archive = Archive(out / "archive.sqlite")
    cands = archive.candidates()
    archive.close()
    mutants = [c for c in cands if not c.origin.startswith("seed:")]
    assert mutants and {c.modification.split("(")[0] for c in mutants} <= {
        "widen", "narrow", "kernel", "add_block", "drop_block"}
    rest = summary["restoration"]
    assert {s["origin"] for s in rest["seeds"]} == {"seed:residual_denoiser", "seed:unet_small"}
    best = rest["best"]
    assert best["val_psnr"] == summary["best_metric"]
    assert 0 < best["val_ssim"] <= 1 and best["params"] > 0 and best["latency_ms"] > 0
    assert "distillation" not in rest


def test_distillation_reports_teacher_student_and_retained_share(tmp_path: Path) -> None:
    out, summary = _run(tmp_path, 2, 8, "distill = true\nalpha = 0.9\nteacher_epochs = 5\n")
    d = summary["restoration"]["distillation"]
    assert d["student_psnr"] == summary["best_metric"]
    assert d["teacher_psnr"] > 0 and d["teacher_params"] > d["student_params"]
    assert d["retained_share"] == pytest.approx(d["student_psnr"] / d["teacher_psnr"])
    report = subprocess.run([*NASLOOP, "report", str(out)], capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]
    html = (out / "report.html").read_text()
    assert 'id="restoration"' in html and "of the teacher" in html
