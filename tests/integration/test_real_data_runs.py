"""`nasloop run` on data the user brings, laid out on disk by the test (no download): a tiny
image folder and an MNIST tree; the task's description matches what is trained; a run's
candidates export to the NN-Dataset layout."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _disk() -> object:
    spec = importlib.util.spec_from_file_location("datasets_on_disk",
                                                  FIXTURES / "datasets_on_disk.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _run(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "run"
    proc = subprocess.run([*NASLOOP, "run", "--budget", "4", "--out", str(out), *args],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def test_run_on_an_image_folder(tmp_path: Path) -> None:
    folder = _disk().write_image_folder(tmp_path / "imgs")  # type: ignore[attr-defined]
    out = _run(tmp_path, "--dataset", f"imagefolder:{folder}")
    summary = _summary(out)
    assert summary["status"] == "finished" and summary["valid"] >= 1
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["dataset"] == f"imagefolder:{folder}"
    from nasloop.config import build_config
    from nasloop.tasks.registry import build_task

    line = build_task(build_config(config)).brief().line
    assert "inputs (1, 16, 16), 3 classes" in line  # the files' own size and channels
    exported = subprocess.run([*NASLOOP, "lemur", "export", str(out), str(tmp_path / "tree")],
                              capture_output=True, text=True, timeout=120)
    assert exported.returncode == 0, exported.stderr
    assert len(list((tmp_path / "tree" / "nn").glob("*.py"))) == summary["valid"]
    stats = list((tmp_path / "tree" / "stat").glob("*/1.json"))
    assert len(stats) == summary["valid"]
    assert all(0.0 <= json.loads(p.read_text())[0]["accuracy"] <= 1.0 for p in stats)


def test_run_on_mnist_laid_out_on_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _disk().write_mnist(data)  # type: ignore[attr-defined]
    out = _run(tmp_path, "--dataset", "mnist", "--data-dir", str(data))
    summary = _summary(out)
    assert summary["status"] == "finished" and summary["valid"] >= 1, summary
