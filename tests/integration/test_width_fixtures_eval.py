"""Every candidate fixture trains under `nasloop eval` on digits in the real sandbox, in one
warm worker: the width patterns, torchvision blocks (preloaded before the audit hook arms),
dataclasses, single-module criteria, extra prm keys and aux outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "candidates"


def _eval(*args: str) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "nasloop", "eval", *args, "--json"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def test_every_fixture_trains_on_digits() -> None:
    files = sorted(p for p in FIXTURES.glob("*.py") if p.name != "lemur_rgb_only.py")
    results = _eval(*map(str, files), "--epochs", "1", "--jobs", "2")
    assert {Path(r["file"]).name for r in results} == {p.name for p in files}
    failed = {Path(r["file"]).name: r["message"] for r in results if r["status"] != "ok"}
    assert not failed
    assert all(r["metrics"]["val_accuracy"] > 0 for r in results)


def test_the_rgb_only_fixture_passes_the_checks_on_rgb_digits() -> None:
    [result] = _eval(str(FIXTURES / "lemur_rgb_only.py"), "--dataset", "digits-rgb",
                     "--check-only")
    assert result["status"] == "ok", result["message"]
