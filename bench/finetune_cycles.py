"""Fine-tuning cycles from nothing: a tiny coder with random weights learns to write valid
candidates from nasloop's own channel corpus and elites, on CPU, in minutes.

    .venv/bin/python bench/finetune_cycles.py [--cycles 3] [--every 8] [--work /tmp/ftbench]

What runs is the real search (`nasloop finetune` as a library call) from one seed,
`bench/lenet_compact.py` (LeNet without comments or docstrings): the heuristic
improver writes instructions (typed mutations of the seed, described in words), the
tiny model answers them, every answer is checked and -- when it parses into a model --
trained in the sandbox, and after each cycle a LoRA adapter is trained on the cycle's
elites plus a draw from a channel corpus of LeNet. The prompts of a cycle are held out:
they are the improver's, not the corpus', and `seen` counts any that asked for a
(parent, change) some training pair asked for.

Prints a markdown section for bench/README.md: per cycle, the valid-generation rate, the
metric of what trained, the adapter's loss and the time each part took.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from nasloop.config import build_config
from nasloop.corpus.build import CorpusOptions, build_corpus
from nasloop.finetune.store import CycleStore
from nasloop.finetune.tinymodel import build
from nasloop.memory.archive import Archive
from nasloop.runner import ARCHIVE, drive, new_run

SEED = Path(__file__).with_name("lenet_compact.py")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/nasloop-ftbench"))
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--every", type=int, default=8, help="C: candidates per cycle")
    p.add_argument("--corpus", type=int, default=200, help="variants in the LeNet corpus")
    p.add_argument("--corpus-pairs", type=int, default=40, help="corpus pairs per cycle")
    p.add_argument("--mode", default="full", choices=["full", "delta"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--r", type=int, default=64)
    p.add_argument("--alpha", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--targets", default="all-linear")
    p.add_argument("--max-new-tokens", type=int, default=700)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args()


def settings(a: argparse.Namespace, model: Path, corpus: Path, seed_file: Path) -> dict:
    return {
        "run": {"budget": 1 + a.cycles * a.every, "seed": a.seed},
        "agents": {
            "generator": f"hf:{model}",
            "improver": "heuristic",
            "mode": a.mode,
            "temperature": a.temperature,
            "max_new_tokens": a.max_new_tokens,
            "retries": 0,  # one answer per candidate: the rate is the model's, not a retry's
            "device_map": "cpu",
        },
        "seeds": {"builtin": False, "files": [str(seed_file)]},
        "finetune": {
            "enabled": True,
            "every": a.every,
            "corpus": str(corpus),
            "corpus_pairs": a.corpus_pairs,
            "r": a.r,
            "alpha": a.alpha,
            "dropout": 0.0,
            "target_modules": a.targets.split(","),
            "learning_rate": a.lr,
            "epochs": a.epochs,
            "batch_size": a.batch_size,
            "reliability_candidates": 2,
            "reliability_seeds": 1,
        },
    }


def _failures(cands: dict, row: dict) -> str:
    """Failure classes of a cycle's candidates, with the generation failures split by reason."""
    counts: dict[str, int] = {}
    for c in cands.values():
        if not row["start_step"] <= c.step < row["end_step"] or c.status in ("ok", "duplicate"):
            continue
        why = c.failure_class or c.status
        if why == "generation":
            msg = c.failure_message or ""
            why = "cut off" if "cut off" in msg else "no code" if "no Python" in msg else why
        counts[why] = counts.get(why, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def main() -> None:
    a = parse()
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = a.work / f"model-h{a.hidden}-l{a.layers}-s{a.seed}"
    if not (model / "config.json").exists():
        build(model, hidden=a.hidden, layers=a.layers, seed=a.seed)
    seed = SEED.read_text()
    corpus = a.work / f"lenet-compact-{a.corpus}.jsonl"
    build_corpus(seed, SEED.name, corpus, CorpusOptions(a.corpus))
    seed_file = a.work / SEED.name
    seed_file.write_text(seed)
    setup_s = time.perf_counter() - t0

    out = a.work / f"run-{int(time.time())}"
    cfg = build_config(settings(a, model, corpus, seed_file))
    new_run(cfg, out)
    t1 = time.perf_counter()
    summary = drive(cfg, out)
    run_s = time.perf_counter() - t1

    archive = Archive(out / ARCHIVE)
    try:
        cycles = CycleStore(archive).cycles()
        cands = {c.id: c for c in archive.candidates()}
    finally:
        archive.close()
    print(f"### Fine-tuning cycles ({time.strftime('%Y-%m-%d')}, {platform.machine()}, CPU)\n")
    print(
        f"`python bench/finetune_cycles.py --cycles {a.cycles} --every {a.every} "
        f"--mode {a.mode}`: tiny Qwen2 (hidden {a.hidden}, {a.layers} layers, random "
        f"weights, tokenizer trained here), LoRA r={a.r} alpha={a.alpha} on "
        f"`{a.targets}`, lr {a.lr:g}, {a.epochs} epochs, {a.corpus_pairs} corpus pairs per "
        f"cycle plus the elites; greedy={a.temperature == 0}, {a.max_new_tokens} new tokens; "
        f"run {out.name}: {summary['status']} in {run_s:.0f} s (setup {setup_s:.0f} s).\n"
    )
    print(
        "| cycle | generated with | valid / generated | valid rate | held out | "
        "mean / best val_accuracy | elites | adapter loss (first -> last) | train s | "
        "why the others failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for row in cycles:
        s = row["stats"] or {}
        t = row["train"] or {}
        gen = s.get("generated", 0)
        mean, best = s.get("mean_metric"), s.get("best_metric")
        loss = f"{t['first_loss']:.2f} -> {t['last_loss']:.2f}" if t.get("first_loss") else "-"
        print(
            f"| {row['cycle']} | {Path(row['adapter']).name if row['adapter'] else 'base'} "
            f"| {s.get('valid', 0)} / {gen} | {s.get('valid_rate', 0):.0%} "
            f"| {gen - s.get('seen_in_training', 0)} / {gen} "
            f"| {_num(mean)} / {_num(best)} "
            f"| {s.get('novel_elites', 0)} | {loss} | {t.get('wall_s', 0):.0f} "
            f"| {_failures(cands, row)} |"
        )
        rows.append(
            {
                "cycle": row["cycle"],
                "stats": s,
                "train": {k: v for k, v in t.items() if k != "keys"},
            }
        )
    sent = sum(1 for c in cands.values() if c.eval_wall_s is not None)
    print(f"\n{sent} candidates went to the sandbox (the seed included); archive: {out / ARCHIVE}")
    (a.work / "result.json").write_text(
        json.dumps(
            {"args": vars(a) | {"work": str(a.work)}, "run": str(out), "cycles": rows}, indent=1
        )
    )


if __name__ == "__main__":
    main()
