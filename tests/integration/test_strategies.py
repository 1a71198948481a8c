"""A 2-island search on digits: it finishes, both islands advance, and a run stopped and
resumed makes the same choices (the population is derived from the archive alone)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.config import SearchConfig
from nasloop.memory.archive import Archive
from nasloop.strategy.population import home_island, islands
from nasloop.tasks.base import Objective

pytestmark = pytest.mark.slow

CONFIG = '[search]\nstrategy = "islands"\nislands = 2\nmigrate_every = 4\n'


def nasloop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nasloop", *args], capture_output=True,
                          text=True, timeout=900)


def _rows(run: Path) -> list[tuple[int, int | None, str | None, str | None]]:
    a = Archive(run / "archive.sqlite")
    try:
        return [(c.step, c.parent_id, c.modification, c.structural_hash)
                for c in a.candidates()]
    finally:
        a.close()


def test_two_islands_advance_and_resume_gives_the_same_run(tmp_path: Path) -> None:
    config = tmp_path / "islands.toml"
    config.write_text(CONFIG)
    whole, split = tmp_path / "whole", tmp_path / "split"
    proc = nasloop("run", "--config", str(config), "--budget", "8", "--out", str(whole))
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = nasloop("run", "--config", str(config), "--budget", "5", "--out", str(split))
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = nasloop("resume", str(split), "--budget", "8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _rows(split) == _rows(whole)
    a = Archive(whole / "archive.sqlite")
    cands = a.candidates()
    a.close()
    seeds = sum(c.origin.startswith("seed:") for c in cands)
    trained = [c for c in cands if c.status == "ok"]
    cfg = SearchConfig(strategy="islands", islands=2, migrate_every=4)
    advanced = set()
    for child in cands[seeds:]:
        island = home_island(child.step, seeds, 2)
        earlier = [c for c in trained if c.step < child.step]
        members = islands(earlier, Objective(), seeds, cfg.islands, cfg.migrate_every)[island]
        if child.parent_id in {m.id for m in members}:
            advanced.add(island)
    assert advanced == {0, 1}


def test_the_operator_bandit_resumed_makes_the_choices_of_an_uninterrupted_run(
        tmp_path: Path) -> None:
    config = tmp_path / "bandit.toml"
    config.write_text('[search]\noperator_credit = "bandit"\n')
    whole, split = tmp_path / "whole", tmp_path / "split"
    for out, budget in ((whole, "8"), (split, "5")):
        proc = nasloop("run", "--config", str(config), "--budget", budget, "--out", str(out))
        assert proc.returncode == 0, proc.stderr[-2000:]
    proc = nasloop("resume", str(split), "--budget", "8")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _rows(split) == _rows(whole)
    a = Archive(whole / "archive.sqlite")
    prompts = [c["prompt"] for c in a.agent_calls() if c["role"] == "improver"]
    a.close()
    assert prompts and all('"draws"' in p and '"credit"' in p for p in prompts)
