"""The suitability task for real: a dozen seeds and mutants scored on three digits-derived
datasets in the sandbox, the item pool in all three prompt variants, the baselines, and the
tiny local model LoRA-trained on the items and scored on the held-out networks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nasloop.memory.archive import Archive
from nasloop.suitability.items import VARIANTS, read_items
from nasloop.tasks.image_classification.multidata import per_dataset
from nasloop.tasks.suitability import ITEMS_FILE

pytestmark = pytest.mark.slow
NASLOOP = [sys.executable, "-m", "nasloop"]
DATASETS = ["digits", "digits-inverted", "digits-16px"]
SMALL = {"hidden": 32, "layers": 1, "heads": 2, "vocab": 2500, "stdlib_bytes": 200_000}


def _cli(*args: str, timeout: int = 600) -> str:
    proc = subprocess.run([*NASLOOP, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_a_search_grows_the_pool_and_the_tiny_model_learns_to_answer(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from nasloop.finetune.tinymodel import build

    config = tmp_path / "search.toml"
    config.write_text(f'[task]\nkind = "suitability"\n[run]\nbudget = 12\n[data]\n'
                      f"datasets = {json.dumps(DATASETS)}\n[train]\nepochs = 1\n")
    run = tmp_path / "run"
    _cli("run", "--config", str(config), "--out", str(run))

    summary = json.loads((run / "summary.json").read_text())
    archive = Archive(run / "archive.sqlite")
    cands = archive.candidates("ok")
    archive.close()
    assert len(cands) >= 10 and any(not c.origin.startswith("seed:") for c in cands)
    assert all(set(per_dataset(c.metrics)) == set(DATASETS) for c in cands)
    pool = summary["suitability"]
    assert pool["networks"] == len({c.code for c in cands})
    assert set(pool["per_variant"]) == set(VARIANTS)
    assert pool["per_variant"]["normalized"]["rule"] == 1.0
    growth = [g["items"] for g in pool["growth"]]
    assert growth == sorted(growth) and growth[-1] == pool["items"] > growth[0]

    # the command builds the same items from the run; labels agree with the archive
    items_file = tmp_path / "items.jsonl"
    variants = [a for v in VARIANTS for a in ("--prompt", v)]
    counts = json.loads(_cli("suitability", "build", str(run), *variants, "--out",
                             str(items_file), "--json"))
    items = read_items(items_file)
    assert counts["items"] == pool["items"] == len(read_items(run / ITEMS_FILE))
    assert counts["train"] > 0 and counts["heldout"] > 0
    by_id = {c.id: per_dataset(c.metrics) for c in cands}
    best = {d: max(acc[d] for acc in by_id.values()) for d in DATASETS}
    for it in items:
        acc = by_id[int(it.source.rsplit("#", 1)[1])]
        a, b = acc[it.dataset_a] / best[it.dataset_a], acc[it.dataset_b] / best[it.dataset_b]
        assert it.label == (it.dataset_a if a > b else it.dataset_b)
    table = json.loads(_cli("suitability", "eval", str(items_file), "--split", "all"))
    assert table["rule"]["per_variant"]["normalized"]["accuracy"] == 1.0

    # the tiny local model: LoRA on the train networks, scored on the held-out ones
    model = build(tmp_path / "tiny", **SMALL)
    out = tmp_path / "lora"
    _cli("suitability", "train", str(items_file), "--model", f"hf:{model}", "--out", str(out),
         "--epochs", "1", "--lr", "0.005")
    rows = [json.loads(s) for s in (out / "epochs.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert rows[0]["n"] == rows[1]["n"] == counts["heldout"]
    assert set(rows[1]["per_variant"]) == set(VARIANTS)
    assert (out / "epoch-1").is_dir()
    # random weights name no dataset; one epoch on the labels teaches it to answer with one
    assert rows[1]["unanswered"] < rows[0]["unanswered"]
    assert 0.0 <= rows[1]["heldout_accuracy"] <= 1.0

    # the inspection commands show each dataset
    steps = json.loads(_cli("trace", str(run), "--json"))
    assert all(set(s["per_dataset"]) == set(DATASETS) for s in steps if s["outcome"] == "ok")
    _cli("report", str(run))
    html = (run / "report.html").read_text()
    assert 'id="suitability"' in html and "<th>digits-16px</th>" in html
