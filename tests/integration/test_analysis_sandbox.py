"""The orchestrator never executes seed or candidate code: the mutation analysis of a
parent (propose, apply) runs in the sandbox, so a hostile seed's module-level code never
sees the orchestrator's environment, and the run still mutates it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SEED = Path(__file__).resolve().parents[1] / "fixtures" / "integrity" / "hostile_seed.py"


def test_a_hostile_seed_is_mutated_without_running_in_the_orchestrator(tmp_path: Path) -> None:
    marker = tmp_path / "seed-code-ran-here"
    config = tmp_path / "search.toml"
    config.write_text(f'[seeds]\nbuiltin = false\nfiles = [{json.dumps(str(SEED))}]\n'
                      '[train]\nepochs = 1\n', encoding="utf-8")
    env = {**os.environ, "NASLOOP_TEST_SEED_SECRET": "hunter2",
           "NASLOOP_TEST_SEED_MARKER": str(marker)}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "nasloop", "run", "--config", str(config),
                           "--budget", "4", "--out", str(out)], capture_output=True, text=True,
                          timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists(), "the seed's code ran with the orchestrator's environment"
    db = sqlite3.connect(out / "archive.sqlite")
    rows = db.execute("SELECT origin, parent_id, status, modification FROM candidates "
                      "ORDER BY step").fetchall()
    db.close()
    assert len(rows) == 4
    assert rows[0][0].startswith("seed:") and rows[0][2] == "ok"
    mutants = [r for r in rows[1:] if r[1] is not None]
    assert mutants and all(r[3] for r in mutants)  # proposed and applied in the sandbox
    assert any(r[2] == "ok" for r in mutants)


def test_corpus_of_a_hostile_model_file_is_built_in_the_sandbox(tmp_path: Path,
                                                                 monkeypatch) -> None:
    from nasloop.corpus.build import CorpusOptions, build_corpus
    from nasloop.corpus.records import read_records

    marker = tmp_path / "model-code-ran-here"
    monkeypatch.setenv("NASLOOP_TEST_SEED_SECRET", "hunter2")
    monkeypatch.setenv("NASLOOP_TEST_SEED_MARKER", str(marker))
    out = tmp_path / "corpus.jsonl"
    report = build_corpus(SEED.read_text(), SEED.name, out, CorpusOptions(3, in_shape=(1, 8, 8)))
    assert not marker.exists(), "the model file's code ran in this process"
    assert report.written == len(read_records(out)) == 3
