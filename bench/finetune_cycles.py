"""Fine-tuning cycles from nothing: does a tiny coder with random weights learn to write
valid candidates from nasloop's own channel corpus and elites, on CPU, in minutes?

    .venv/bin/python bench/finetune_cycles.py [--cycles 8] [--every 8] [--threads 1]
        [--seed-file bench/lenet_compact.py] [--work /tmp/nasloop-ftbench]

What runs is the real search (`nasloop finetune` as a library call) from one seed,
`bench/lenet_compact.py` by default (LeNet without comments or docstrings): the heuristic
improver writes instructions (typed mutations of the seed, described in words), the tiny
model (`nasloop.finetune.tinymodel`) answers them, every answer is checked and -- when it
parses into a model -- trained in the sandbox, and after each cycle a LoRA adapter is
trained on the elites so far plus a draw from a channel corpus of the seed. The prompts of
a cycle are held out: they are the improver's, not the corpus', and the `held out` column
counts those whose (parent, change) no training pair asked for. `--single-change` keeps
only the corpus variants that change one channel group (one width to write in two places).

Prints a markdown section for bench/README.md: per cycle, how far the answers got (a
file, the sandbox, trained), the valid-generation rate, how many of the valid ones were
new or duplicates, how many distinct files and how many copies of a corpus variant, the
metric of what trained, the adapter's loss and training time, and why the others failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import time
from pathlib import Path

import torch

from nasloop.config import build_config
from nasloop.corpus.build import CorpusOptions, build_corpus
from nasloop.corpus.records import read_records
from nasloop.finetune import tinymodel
from nasloop.finetune.stats import is_valid
from nasloop.finetune.store import CycleStore
from nasloop.memory.archive import Archive
from nasloop.runner import ARCHIVE, drive, new_run

SEED = Path(__file__).with_name("lenet_compact.py")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/nasloop-ftbench"))
    p.add_argument("--seed-file", type=Path, default=SEED, help="the one seed architecture")
    p.add_argument("--cycles", type=int, default=8)
    p.add_argument("--every", type=int, default=8, help="C: candidates per cycle")
    p.add_argument("--corpus", type=int, default=1200, help="variants in the LeNet corpus")
    p.add_argument("--corpus-pairs", type=int, default=240, help="corpus pairs per cycle")
    p.add_argument(
        "--single-change", action="store_true", help="corpus: only variants of one group"
    )
    p.add_argument("--elite-repeat", type=int, default=8, help="weight of each elite's pair")
    p.add_argument("--mode", default="full", choices=["full", "delta"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--r", type=int, default=128)
    p.add_argument("--alpha", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--targets", default="all-linear,lm_head")
    p.add_argument("--max-new-tokens", type=int, default=260)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
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
            "elite_repeat": a.elite_repeat,
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


def _in_cycle(cands: dict, row: dict) -> list:
    return [c for c in cands.values() if row["start_step"] <= c.step < row["end_step"]]


def _failures(cycle: list, cands: dict) -> str:
    """Failure classes of a cycle's candidates, with the generation failures split by reason."""
    counts: dict[str, int] = {}
    for c in cycle:
        if is_valid(c, cands):
            continue
        why = "duplicate of a failure" if c.status == "duplicate" else c.failure_class or c.status
        if why == "generation":
            msg = c.failure_message or ""
            why = (
                "cut off"
                if "cut off" in msg
                else "no code"
                if "no Python" in msg
                else "parent unchanged"
                if "unchanged" in msg
                else why
            )
        counts[why] = counts.get(why, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def _outcomes(cycle: list, cands: dict, corpus: set[str]) -> dict[str, int]:
    """How far a cycle's answers got: a file, the sandbox, trained (new or a duplicate),
    and how many of the valid ones are a corpus variant, copied."""
    valid = [c for c in cycle if is_valid(c, cands)]
    return {
        "copies": sum(1 for c in valid if (c.code or "").strip() in corpus),
        "files": sum(1 for c in cycle if c.code),
        "sandbox": sum(1 for c in cycle if c.eval_wall_s is not None),
        "new": sum(1 for c in valid if c.status == "ok"),
        "dup": sum(1 for c in valid if c.status == "duplicate"),
        "distinct": len({(c.code or "").strip() for c in valid}),
    }


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def model_dir(work: Path, a: argparse.Namespace) -> Path:
    """Where the tiny model lives: named by its arguments and the builder's source."""
    src = Path(tinymodel.__file__).read_bytes()
    key = hashlib.sha256(src + f"{a.hidden}-{a.layers}-{a.seed}".encode()).hexdigest()[:10]
    return work / f"model-h{a.hidden}-l{a.layers}-s{a.seed}-{key}"


def main() -> None:
    a = parse()
    if a.threads:
        torch.set_num_threads(a.threads)
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = model_dir(a.work, a)
    if not (model / "config.json").exists():
        tinymodel.build(model, hidden=a.hidden, layers=a.layers, seed=a.seed)
    seed = a.seed_file.read_text()
    corpus = a.work / f"{a.seed_file.stem}-{a.corpus}.jsonl"
    build_corpus(seed, a.seed_file.name, corpus, CorpusOptions(a.corpus))
    if a.single_change:  # one channel group changed: one width to write twice, no more
        single = corpus.with_name(corpus.stem + "-single.jsonl")
        kept = [r for r in read_records(corpus) if len(r.mutations) == 1]
        single.write_text("".join(r.model_dump_json() + "\n" for r in kept))
        corpus = single
    seed_file = a.work / a.seed_file.name
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
    variants = {r.code.strip() for r in read_records(corpus)}
    print(f"### Fine-tuning cycles ({time.strftime('%Y-%m-%d')}, {platform.machine()}, CPU)\n")
    print(
        f"`python bench/finetune_cycles.py --cycles {a.cycles} --every {a.every} "
        f"--corpus {a.corpus} --corpus-pairs {a.corpus_pairs} --mode {a.mode} "
        f"--seed-file {a.seed_file} --epochs {a.epochs} --lr {a.lr:g} "
        f"--elite-repeat {a.elite_repeat} --temperature {a.temperature:g}"
        f"{' --single-change' if a.single_change else ''}"
        f"{f' --threads {a.threads}' if a.threads else ''}`: tiny Llama (hidden {a.hidden}, "
        f"{a.layers} layers, random weights, tokenizer trained here), LoRA r={a.r} "
        f"alpha={a.alpha} on `{a.targets}`, lr {a.lr:g}, {a.epochs} epoch(s), batch "
        f"{a.batch_size}, {a.corpus_pairs} corpus pairs per cycle plus the elites; "
        f"greedy={a.temperature == 0}, {a.max_new_tokens} new tokens; run {out.name}: "
        f"{summary['status']} in {run_s:.0f} s (setup {setup_s:.0f} s).\n"
    )
    print(
        "| cycle | generated with | answers | files | reached sandbox | valid (trained) | "
        "valid rate | new / duplicate | distinct | corpus copies | held out | "
        "mean / best val_accuracy | "
        "elites | adapter loss (first -> last) | train s | why the others failed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|---:|---|---:|---|")
    rows = []
    for row in cycles:
        s = row["stats"] or {}
        t = row["train"] or {}
        cycle = _in_cycle(cands, row)
        o = _outcomes(cycle, cands, variants)
        gen = s.get("generated", 0)
        mean, best = s.get("mean_metric"), s.get("best_metric")
        loss = f"{t['first_loss']:.2f} -> {t['last_loss']:.2f}" if t.get("first_loss") else "-"
        print(
            f"| {row['cycle']} | {Path(row['adapter']).name if row['adapter'] else 'base'} "
            f"| {gen} | {o['files']} | {o['sandbox']} | {s.get('valid', 0)} "
            f"| {s.get('valid_rate', 0):.0%} | {o['new']} / {o['dup']} | {o['distinct']} "
            f"| {o['copies']} "
            f"| {gen - s.get('seen_in_training', 0)} / {gen} "
            f"| {_num(mean)} / {_num(best)} "
            f"| {s.get('novel_elites', 0)} | {loss} | {t.get('wall_s', 0):.0f} "
            f"| {_failures(cycle, cands)} |"
        )
        rows.append(
            {
                "cycle": row["cycle"],
                "stats": s,
                "outcomes": o,
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
