"""One writer per run directory: a second `run`/`resume` of a run that is being written is
refused with one line naming the writer's pid, and nothing of the run is touched."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from nasloop.rundir import RunDir, RunLocked

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]


def test_lock_names_the_holder_and_is_released(tmp_path: Path) -> None:
    rd = RunDir(tmp_path / "run")
    with rd.hold():
        probe = subprocess.run(
            [sys.executable, "-c", "import sys; from nasloop.rundir import RunDir\n"
             "try:\n    RunDir(sys.argv[1]).hold().__enter__()\n"
             "except Exception as e:\n    print(type(e).__name__, e)", str(rd.path)],
            capture_output=True, text=True, timeout=60)
        assert probe.stdout.startswith("RunLocked") and "another nasloop process" in probe.stdout
        import os

        assert f"pid {os.getpid()}" in probe.stdout
    with rd.hold():  # released: taken again at once
        pass
    assert issubclass(RunLocked, Exception)


def test_resume_while_the_run_is_writing_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run = subprocess.Popen([*NASLOOP, "run", "--budget", "40", "--out", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while not RunDir(out).lock.exists() or not RunDir(out).archive.exists():
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.2)
        second = subprocess.run([*NASLOOP, "resume", str(out)], capture_output=True,
                                text=True, timeout=300)
        assert run.poll() is None, "the run ended before the second writer was tried"
        assert second.returncode == 2, second.stdout + second.stderr
        line = second.stderr.strip()
        assert "\n" not in line and f"pid {run.pid}" in line
        run.terminate()  # Ctrl-C-like stop; the run records itself as interrupted
        assert run.wait(timeout=300) == 130
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    import sqlite3

    db = sqlite3.connect(out / "archive.sqlite")
    attempts = [a for (a,) in db.execute("SELECT eval_attempts FROM candidates")]
    db.close()
    assert attempts and max(attempts) <= 1  # nothing was trained twice
