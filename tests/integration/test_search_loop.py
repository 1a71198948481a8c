"""The whole loop, real parts: the CLI, LangGraph with its SQLite checkpointer, the archive,
the sandbox's subprocesses. Small budgets on digits."""

from __future__ import annotations

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
from nasloop.tasks.image_classification.seeds import list_seeds

pytestmark = pytest.mark.slow

NASLOOP = [sys.executable, "-m", "nasloop"]


def nasloop(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NASLOOP, *args], capture_output=True, text=True, timeout=timeout)


def _candidates(run: Path) -> list:
    a = Archive(run / "archive.sqlite")
    try:
        return a.candidates()
    finally:
        a.close()


def test_run_of_six_candidates(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = nasloop("run", "--budget", "6", "--out", str(out), "--seed", "1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    cands = _candidates(out)
    assert len(cands) == 6
    a = Archive(out / "archive.sqlite")
    triples = a.triples()
    calls = a.agent_calls()
    a.close()
    assert [t.step for t in triples] == list(range(6))
    assert {c.id for c in cands} == {t.candidate_id for t in triples}
    seeds = [c for c in cands if c.origin.startswith("seed:")]
    assert len(seeds) == len(list_seeds())
    mutated = [c for c in cands if not c.origin.startswith("seed:")]
    assert all(c.parent_id is not None and c.modification for c in mutated)
    assert all(c.diff and c.diff.startswith("--- a/") for c in mutated if c.code)
    assert {call["role"] for call in calls} == {"improver", "generator"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["stop_reason"] == "budget"
    assert summary["candidates_generated"] == 6
    assert summary["valid"] == sum(c.status == "ok" for c in cands) >= len(seeds)
    assert summary["best_metric"] == max(c.score for c in cands if c.status == "ok")
    best = (out / "best.py").read_text()
    assert f"#{summary['best_candidate']}" in best.splitlines()[0]
    assert (out / "checkpoints.sqlite").exists()
    ok = [c for c in cands if c.status == "ok"]
    assert all(0.0 <= c.score <= 1.0 and c.params > 0 for c in ok)
    # a line per candidate was printed
    assert proc.stdout.count("#") >= 6


def test_existing_run_is_refused_and_resume_with_more_budget(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert nasloop("run", "--budget", "3", "--out", str(out)).returncode == 0
    again = nasloop("run", "--budget", "3", "--out", str(out))
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and len(again.stderr.strip().splitlines()) == 1
    before = {c.id: c.score for c in _candidates(out)}
    more = nasloop("resume", str(out), "--budget", "5")
    assert more.returncode == 0, more.stderr[-2000:]
    after = _candidates(out)
    assert len(after) == 5
    assert all(c.eval_attempts <= 1 for c in after)
    assert {c.id: c.score for c in after if c.id in before} == before


def test_killed_run_resumes_without_training_twice(tmp_path: Path) -> None:
    out = tmp_path / "run"
    budget = 8
    proc = subprocess.Popen(
        [*NASLOOP, "run", "--budget", str(budget), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: set[int] = set()
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            time.sleep(0.3)
            if not (out / "archive.sqlite").exists():
                continue
            try:
                db = sqlite3.connect(f"file:{out / 'archive.sqlite'}?mode=ro", uri=True)
                rows = db.execute(
                    "SELECT id, score FROM candidates WHERE status IN ('ok','failed')"
                ).fetchall()
                db.close()
            except sqlite3.OperationalError:
                continue
            if len(rows) >= 4:
                break
        workers = _descendants(proc.pid)
        assert workers, "the orchestrator runs its candidates in other processes"
        proc.send_signal(signal.SIGKILL)  # the orchestrator only: its workers must follow it
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "running"  # it never got to say otherwise
    done_before = {c.id: c.score for c in _candidates(out) if c.status in ("ok", "failed")}
    assert 4 <= len(done_before) < budget
    _wait_gone(workers)

    res = nasloop("resume", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    after = _candidates(out)
    assert len(after) == budget
    assert [c.step for c in after] == list(range(budget))
    for c in after:
        if c.id in done_before:
            assert c.eval_attempts <= 1 and c.score == done_before[c.id]
    # at most the one candidate cut short by the kill was sent to the sandbox again
    assert sum(c.eval_attempts for c in after) <= sum(1 for c in after if c.eval_wall_s) + 1
    a = Archive(out / "archive.sqlite")
    assert [t.step for t in a.triples()] == list(range(budget))
    a.close()
    final = json.loads((out / "summary.json").read_text())
    assert final["status"] == "finished" and final["candidates_generated"] == budget


def _descendants(pid: int) -> set[int]:
    """Every live process under `pid` (read from /proc), to check later that none survive."""
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = (task / "children").read_text().split()
            except OSError:
                continue
            for k in map(int, kids):
                if k not in found:
                    found.add(k)
                    todo.append(k)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_gone(pids: set[int], timeout: float = 20.0) -> None:
    """The sandbox worker dies with the orchestrator (PDEATHSIG): nothing of the run lingers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {p for p in pids if _running(p)}
        if not alive:
            return
        time.sleep(0.2)
    pytest.fail(f"processes of the killed orchestrator outlived it: {sorted(alive)}")


def test_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nbudget = 'lots'\n")
    proc = nasloop("run", "--config", str(bad), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "run.budget" in lines[0]
    assert not (tmp_path / "r").exists()
    missing = nasloop("run", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "r"))
    assert missing.returncode == 2 and "file not found" in missing.stderr
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[train]\nepoch = 2\n")
    proc = nasloop("run", "--config", str(unknown), "--out", str(tmp_path / "r"))
    assert proc.returncode == 2 and "unknown key 'train.epoch'" in proc.stderr


def test_duplicate_candidate_is_skipped(tmp_path: Path) -> None:
    copy = tmp_path / "lenet_copy.py"
    copy.write_text("# the same network, reformatted\n\n" + list_seeds()["lenet"] + "\n\n")
    cfg = tmp_path / "dup.toml"
    cfg.write_text(f'[seeds]\nfiles = ["{copy}"]\n')
    out = tmp_path / "run"
    n = len(list_seeds()) + 1
    proc = nasloop("run", "--config", str(cfg), "--budget", str(n), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    cands = _candidates(out)
    dup = cands[-1]
    assert dup.status == "duplicate" and dup.eval_attempts == 0 and dup.eval_wall_s is None
    assert dup.duplicate_of == next(c.id for c in cands if c.origin == "seed:lenet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["duplicates_skipped"] == 1
    assert summary["candidates_evaluated"] == n - 1


def test_stop_rules_wall_time_and_patience(tmp_path: Path) -> None:
    wall = nasloop("run", "--budget", "50", "--max-wall-s", "1", "--out", str(tmp_path / "w"))
    assert wall.returncode == 0, wall.stderr[-2000:]
    s = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert s["stop_reason"] == "wall-time" and s["candidates_generated"] == 1

    pat = nasloop("run", "--budget", "60", "--patience", "2", "--out", str(tmp_path / "p"))
    assert pat.returncode == 0, pat.stderr[-2000:]
    s = json.loads((tmp_path / "p" / "summary.json").read_text())
    assert s["stop_reason"] == "patience" and s["candidates_generated"] < 60
    cands = _candidates(tmp_path / "p")
    best = max((c for c in cands if c.status == "ok"), key=lambda c: c.score)
    later = [
        c
        for c in cands
        if c.step > best.step and c.eval_wall_s is not None and not c.origin.startswith("seed:")
    ]
    assert len(later) == 2


def test_ctrl_c_marks_interrupted_and_resume_finishes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*NASLOOP, "run", "--budget", "5", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a suite started as a background job inherits SIGINT ignored, and so would the
        # run (Python leaves an inherited SIG_IGN in place): give the run the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (out / "best.py").exists():
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "nasloop resume" in stdout
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"
    res = nasloop("resume", str(out))
    assert res.returncode == 0, res.stderr[-2000:]
    final = json.loads((out / "summary.json").read_text())
    assert final["status"] == "finished" and final["candidates_generated"] == 5
