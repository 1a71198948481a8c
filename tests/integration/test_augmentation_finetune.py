"""A LoRA cycle of the tiny local model on better-than transform pairs: the next cycle
generates with the adapter, and some of what it writes passes the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasloop.config import build_config
from nasloop.finetune.store import CycleStore
from nasloop.memory.archive import Archive
from nasloop.rundir import RunDir
from nasloop.runner import drive, new_run
from nasloop.tasks.augmentation.corpus import TransformCorpusOptions, build_transform_corpus
from nasloop.tasks.augmentation.pairs import MODIFICATION

pytestmark = pytest.mark.slow
pytest.importorskip("peft")


def test_a_lora_cycle_on_better_than_pairs(tmp_path: Path) -> None:
    from nasloop.finetune.tinymodel import build

    # the fine-tuning bench's tiny coder (weights std 0.1): the fixture's std-0.02 weights
    # barely move under a LoRA (loss 6.34 -> 6.04 in 480 steps, only backticks written)
    tiny_model = build(tmp_path / "tiny", hidden=128, layers=2, heads=4, vocab=2500,
                       stdlib_bytes=200_000)
    corpus = tmp_path / "transforms.jsonl"
    build_transform_corpus(corpus, TransformCorpusOptions(count=6, evaluate=True, jobs=2))
    out = tmp_path / "run"
    cfg = build_config({
        # asked as the pairs ask: "this transform reached x; write one that reaches more"
        "task": {"kind": "augmentation", "ask": "better-than"},
        "run": {"budget": 7},  # 3 seeds + 2 cycles of 2
        # no history in the prompts: a 2-layer model only copes with prompts as long as
        # the ones it was tuned on (recent attempts add ~1,500 tokens it never saw)
        "memory": {"k": 0},
        "agents": {"generator": f"hf:{tiny_model}", "improver": "heuristic",
                   "max_new_tokens": 200, "retries": 0, "temperature": 0.0, "mode": "full"},
        "finetune": {"enabled": True, "every": 2, "corpus": str(corpus), "epochs": 200,
                     "dropout": 0.0,
                     "batch_size": 2, "learning_rate": 1e-2, "reliability_candidates": 0},
    })
    new_run(cfg, out)
    summary = drive(cfg, out)
    assert summary["status"] == "finished"
    archive = Archive(out / RunDir.ARCHIVE)
    try:
        first = CycleStore(archive).cycles()[0]
        cands = archive.candidates()
    finally:
        archive.close()
    train = first["train"]
    assert train["pairs"] >= 5 and train["last_loss"] < train["first_loss"]
    tuned = [c for c in cands if c.origin.endswith("+cycle-1")]
    assert len(tuned) == 2
    assert all(c.modification == MODIFICATION for c in tuned)
    passed = [c for c in tuned if c.status == "ok" and c.score is not None]
    assert passed, [(c.status, c.failure_class, c.failure_message) for c in tuned]
