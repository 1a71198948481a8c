"""Fine-tuning cycles end to end on a tiny model built locally: a cycle generates, its
candidates train in the sandbox, a LoRA adapter is trained on the corpus (and elites),
saved, and the next cycle generates with it; a kill mid-cycle resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nasloop.config import build_config
from nasloop.corpus.build import CorpusOptions, build_corpus
from nasloop.finetune.store import CycleStore
from nasloop.memory.archive import Archive
from nasloop.rundir import RunDir
from nasloop.runner import drive, new_run
from nasloop.tasks.image_classification.seeds import list_seeds

ARCHIVE = RunDir.ARCHIVE
pytestmark = pytest.mark.slow
pytest.importorskip("peft")

NASLOOP = [sys.executable, "-m", "nasloop"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus") / "lenet.jsonl"
    build_corpus(list_seeds()["lenet"], "lenet.py", out, CorpusOptions(6))
    return out


def _settings(model: Path, corpus: Path, seeds: list[Path], **finetune: Any) -> dict[str, Any]:
    return {
        "run": {"budget": 6},  # 2 seeds + 2 cycles of 2
        "agents": {
            "generator": f"hf:{model}",
            "improver": "heuristic",
            "max_new_tokens": 32,
            "retries": 0,
            "temperature": 0.0,
            "mode": "full",
        },
        "seeds": {"builtin": False, "files": [str(s) for s in seeds]},
        "finetune": {
            "enabled": True,
            "every": 2,
            "corpus": str(corpus),
            "epochs": 3,
            "batch_size": 2,
            "learning_rate": 3e-3,
            "reliability_candidates": 2,
            "reliability_seeds": 1,
            **finetune,
        },
    }


def _seeds(tmp_path: Path) -> list[Path]:
    paths = []
    for name in ("lenet", "vgg_small"):
        p = tmp_path / f"{name}.py"
        p.write_text(list_seeds()[name])
        paths.append(p)
    return paths


def _cycles(out: Path) -> list[dict[str, Any]]:
    archive = Archive(out / ARCHIVE)
    try:
        return CycleStore(archive).cycles()
    finally:
        archive.close()


def test_cycles_train_save_and_generate_with_the_adapter(
    tiny_model: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cfg = build_config(_settings(tiny_model, corpus, _seeds(tmp_path)))
    new_run(cfg, out)
    summary = drive(cfg, out)
    assert summary["status"] == "finished" and summary["candidates_generated"] == 6

    first, second = _cycles(out)
    assert (first["start_step"], first["end_step"], first["adapter"]) == (2, 4, "")
    adapter = out / "adapters" / "cycle-1"
    assert second["adapter"] == first["next_adapter"] == "adapters/cycle-1"  # run-relative
    assert (adapter / "train.json").is_file() and (adapter / "adapter_config.json").is_file()
    train = first["train"]
    assert train["pairs"] == 6  # the corpus; the random model wrote no elite
    assert train["last_loss"] < train["first_loss"]
    assert first["stats"]["generated"] == 2 and first["finished_at"] is not None
    # two trained seeds re-trained with another seed give the reliability diagnostic
    rel = first["stats"]["reliability"]
    assert rel is not None and rel["architectures"] == 2 and rel["evaluations"] == 4
    # the last cycle is measured but trains nothing: no cycle would use it
    assert second["stats"]["generated"] == 2 and second["train"] is None
    assert not (out / "adapters" / "cycle-2").exists()

    archive = Archive(out / ARCHIVE)
    try:
        cands = archive.candidates()
        calls = archive.agent_calls()
    finally:
        archive.close()
    base = f"hf:{tiny_model}"
    assert [c.origin for c in cands[2:]] == [base, base, f"{base}+cycle-1", f"{base}+cycle-1"]
    gen_models = {c["step"]: c["model"] for c in calls if c["role"] == "generator"}
    assert gen_models[4] == gen_models[5] == f"{base}+cycle-1"

    shown = subprocess.run(
        [*NASLOOP, "trace", str(out), "--cycles", "--json"], capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [r["cycle"] for r in rows] == [0, 1] and "keys" not in (rows[0]["train"] or {})
    report = subprocess.run(
        [*NASLOOP, "report", str(out), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").read_text().count('<tr class="cycle">') == 2


def test_adapter_of_a_cycle_loads_later_as_agents_adapter(
    tiny_model: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    cfg = build_config(
        _settings(tiny_model, corpus, _seeds(tmp_path)[:1], reliability_candidates=0)
    )
    cfg = build_config({**cfg.model_dump(), "run": {"budget": 4}})  # cycle 0 of 2, then 1
    new_run(cfg, out)
    drive(cfg, out)
    adapter = out / "adapters" / "cycle-1"
    assert (adapter / "train.json").is_file()
    later_cfg = tmp_path / "later.toml"
    later_cfg.write_text(
        _toml(
            {
                "run": {"budget": 2},
                "agents": {
                    "generator": f"hf:{tiny_model}",
                    "improver": f"hf:{tiny_model}",  # the same model: the adapter is not its
                    "adapter": str(adapter),
                    "max_new_tokens": 16,
                    "retries": 0,
                },
                "seeds": {"builtin": False, "files": [str(tmp_path / "lenet.py")]},
            }
        )
    )
    later = tmp_path / "later"
    res = subprocess.run(
        [*NASLOOP, "run", "--config", str(later_cfg), "--out", str(later)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    archive = Archive(later / ARCHIVE)
    try:
        all_calls = archive.agent_calls()
    finally:
        archive.close()
    calls = [c for c in all_calls if c["role"] == "generator"]
    assert calls and all(c["model"] == f"hf:{tiny_model}+cycle-1" for c in calls)
    improver = [c for c in all_calls if c["role"] == "improver"]
    assert improver and all(c["model"] == f"hf:{tiny_model}" for c in improver)


def test_kill_mid_cycle_resumes_without_redoing_work(
    tiny_model: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    settings = _settings(tiny_model, corpus, _seeds(tmp_path), epochs=8)
    cfg_file = tmp_path / "ft.toml"
    cfg_file.write_text(_toml(settings))
    proc = subprocess.Popen(
        [*NASLOOP, "finetune", "--config", str(cfg_file), "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    keys = out / "adapters" / "cycle-1.keys.json"  # written just before the adapter trains
    try:
        deadline = time.monotonic() + 400
        while not keys.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            assert time.monotonic() < deadline, "the first cycle never closed"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (out / "adapters" / "cycle-1" / "train.json").exists(), "killed too late"
    cycles = _cycles(out)
    assert cycles[0]["finished_at"] is None and cycles[0]["stats"] is not None

    res = subprocess.run([*NASLOOP, "resume", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    first, second = _cycles(out)
    assert (
        first["finished_at"] is not None
        and first["train"]["last_loss"] < first["train"]["first_loss"]
    )
    assert (out / "adapters" / "cycle-1" / "train.json").is_file()
    assert second["stats"]["generated"] == 2
    archive = Archive(out / ARCHIVE)
    try:
        cands = archive.candidates()
        reevals = CycleStore(archive).reevals()
    finally:
        archive.close()
    assert len(cands) == 6 and all(c.eval_attempts <= 1 for c in cands)
    assert len(reevals) == len({(r["candidate_id"], r["seed"]) for r in reevals})
    assert not list((out / "adapters").glob("*.tmp*"))  # no half-written adapter left


def _toml(tree: dict[str, Any]) -> str:
    lines = []
    for section, values in tree.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"
