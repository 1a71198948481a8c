"""A search with a strategy of the user's own, named by import path in the config: it reads
the archive through the read API, the run records it, and resume restores it; a bad import
path is a one-line config error (exit 2) before any run directory exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive

pytestmark = pytest.mark.slow

PLUGIN = '''
import json, os


class Oldest:
    """Always works from the oldest trained candidate; logs what the archive showed it."""

    def see(self, archive):
        self.archive = archive

    def parents(self, archive, step, seed):
        assert archive is self.archive
        trained = [c for c in archive.candidates() if c.status == "ok"]
        with open(os.environ["PLUG_LOG"], "a") as f:
            f.write(json.dumps({"step": step, "seen": len(archive.candidates()),
                                "triples": len(archive.triples())}) + "\\n")
        return [trained[0].id]
'''


def nasloop(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PLUG_LOG": str(tmp / "plug.log")}
    return subprocess.run([sys.executable, "-m", "nasloop", *args], capture_output=True,
                          text=True, timeout=900, env=env)


def test_a_strategy_of_one_s_own_runs_is_recorded_and_resumes(tmp_path: Path) -> None:
    (tmp_path / "myplug.py").write_text(PLUGIN)
    config = tmp_path / "plug.toml"
    config.write_text('[search]\nstrategy = "myplug:Oldest"\n')
    out = tmp_path / "run"
    proc = nasloop(tmp_path, "run", "--config", str(config), "--budget", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = nasloop(tmp_path, "resume", str(out), "--budget", "7")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["search"]["strategy"] == "myplug:Oldest"
    calls = [json.loads(line) for line in (tmp_path / "plug.log").read_text().splitlines()]
    a = Archive(out / "archive.sqlite")
    cands = a.candidates()
    a.close()
    seeds = sum(c.origin.startswith("seed:") for c in cands)
    mutants = cands[seeds:]
    assert [c["step"] for c in calls] == [c.step for c in mutants]  # resumed: it asked again
    assert all(c["seen"] == c["step"] and c["triples"] == c["step"] for c in calls)
    oldest = min(c.id for c in cands if c.status == "ok")
    assert len(mutants) == 7 - seeds and all(c.parent_id == oldest for c in mutants)


def test_a_bad_import_path_is_a_one_line_config_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[search]\nstrategy = "no_such_module_here:Mine"\n')
    out = tmp_path / "run"
    proc = nasloop(tmp_path, "run", "--config", str(config), "--budget", "3", "--out", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "search.strategy" in proc.stderr
    assert not out.exists()
    config.write_text('[agents]\nimprover = "python:no_such_module_here:Mine"\n')
    proc = nasloop(tmp_path, "run", "--config", str(config), "--budget", "3", "--out", str(out))
    assert proc.returncode == 2 and "agents.improver" in proc.stderr
    assert not out.exists()


INSPIRED = '''
import json, os

from nasloop.agents.heuristic import HeuristicImprover


class Inspired:
    """The heuristic improver, declaring that it reads inspirations; logs what it got."""

    name = "inspired"
    reads_inspirations = True

    def __init__(self, task):
        self.inner = HeuristicImprover(task.mutation_space())

    def improve(self, request):
        with open(os.environ["PLUG_LOG"], "a") as f:
            f.write(json.dumps({"step": request.step, "parent": request.parents[0].id,
                                "shown": [c.id for c in request.inspirations],
                                "explore": request.explore}) + "\\n")
        return self.inner.improve(request)
'''


def test_an_improver_plugin_gets_inspirations_and_the_explore_schedule(tmp_path: Path) -> None:
    """The loop hands an improver that reads them `agents.inspirations` other members of
    the population: at the first mutant, the seeds other than the parent, best first; and
    each step's chance of exploring from the schedule (linear, 0.4 down to 0.1)."""
    (tmp_path / "inspired.py").write_text(INSPIRED)
    config = tmp_path / "insp.toml"
    config.write_text('[agents]\nimprover = "python:inspired:Inspired"\ninspirations = 2\n'
                      'explore = 0.4\n[search]\nexplore_schedule = "linear"\n'
                      'explore_end = 0.1\n')
    out = tmp_path / "run"
    proc = nasloop(tmp_path, "run", "--config", str(config), "--budget", "5", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    calls = [json.loads(line) for line in (tmp_path / "plug.log").read_text().splitlines()]
    a = Archive(out / "archive.sqlite")
    seeds = sorted((c for c in a.candidates() if c.origin.startswith("seed:")),
                   key=lambda c: -(c.score or 0))
    a.close()
    first = calls[0]
    assert first["parent"] == seeds[0].id
    assert first["shown"] == [s.id for s in seeds[1:]]
    assert len(calls) == 2 and all(c["parent"] not in c["shown"] for c in calls)
    assert [c["explore"] for c in calls] == pytest.approx([0.4, 0.1])  # steps 3 and 4 of 5
