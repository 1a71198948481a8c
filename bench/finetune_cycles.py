"""Fine-tuning cycles from nothing: does a tiny coder with random weights learn to write
valid candidates from nasloop's own channel corpus and elites, on CPU, in minutes?

    .venv/bin/python bench/finetune_cycles.py [--cycles 9] [--every 8] [--threads 1] [--table RUN]
        [--seed-file bench/lenet_compact.py] [--work /tmp/nasloop-ftbench]

What runs is the real search (`nasloop finetune` as a library call) from one seed,
`bench/lenet_compact.py` by default (LeNet without comments or docstrings): the heuristic
improver writes instructions (typed mutations of its parent, `--operators widen,narrow` by
default: the channel changes the corpus teaches, e.g. `widen(layer=conv2, channels=32)`),
the tiny model (`nasloop.finetune.tinymodel`) answers them, every answer is checked and --
when it parses into a model -- trained in the sandbox, and after each cycle a LoRA adapter
is trained on the elites so far plus a draw from a channel corpus of the seed. The prompts
of a cycle are held out: the corpus leaves out every variant the improver can ask of the
seed in one step, the other parents are generated files, and the `held out` column counts
the prompts whose (parent, change) no training pair asked for. `--single-change` keeps
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

from nasloop.agents.mutation import Mutation, applicable_mutations, apply_mutation
from nasloop.config import build_config
from nasloop.corpus.build import CorpusOptions, build_corpus
from nasloop.corpus.records import read_records
from nasloop.finetune import tinymodel
from nasloop.finetune.pairs import prompt_key, trained_keys
from nasloop.finetune.stats import is_valid
from nasloop.finetune.store import CycleStore
from nasloop.memory.archive import Archive
from nasloop.runner import ARCHIVE, drive, new_run
from nasloop.tasks.registry import build_task

SEED = Path(__file__).with_name("lenet_compact.py")


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/nasloop-ftbench"))
    p.add_argument(
        "--seed-file",
        type=Path,
        nargs="+",
        default=[SEED],
        help="the seed architectures (each gets an equal share of the corpus)",
    )
    p.add_argument("--cycles", type=int, default=9)
    p.add_argument("--every", type=int, default=8, help="C: candidates per cycle")
    p.add_argument("--corpus", type=int, default=1200, help="variants in the LeNet corpus")
    p.add_argument("--corpus-pairs", type=int, default=500, help="corpus pairs per cycle")
    p.add_argument(
        "--single-change", action="store_true", help="corpus: only variants of one group"
    )
    p.add_argument("--elite-repeat", type=int, default=8, help="weight of each elite's pair")
    p.add_argument(
        "--operators",
        default="widen,narrow",
        help="what the heuristic improver may ask for (agents.operators; empty: everything)",
    )
    p.add_argument("--mode", default="full", choices=["full", "delta"])
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--r", type=int, default=128)
    p.add_argument("--alpha", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=float, default=0.0, help="finetune.warmup")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--targets", default="all-linear,lm_head")
    p.add_argument("--max-new-tokens", type=int, default=260)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--table", type=Path, help="print the table of this finished run (same arguments)"
    )
    return p.parse_args()


def settings(a: argparse.Namespace, model: Path, corpus: Path, seed_files: list[Path]) -> dict:
    return {
        "run": {"budget": 1 + a.cycles * a.every, "seed": a.seed},
        "agents": {
            "generator": f"hf:{model}",
            "improver": "heuristic",
            "operators": [o for o in a.operators.split(",") if o],
            "mode": a.mode,
            "temperature": a.temperature,
            "max_new_tokens": a.max_new_tokens,
            "retries": 0,  # one answer per candidate: the rate is the model's, not a retry's
            "device_map": "cpu",
        },
        "seeds": {"builtin": False, "files": [str(f) for f in seed_files]},
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
            "warmup": a.warmup,
            "epochs": a.epochs,
            "batch_size": a.batch_size,
            "reliability_candidates": 2,
            "reliability_seeds": 1,
        },
    }


def _digits() -> tuple[tuple[int, int, int, int], int]:
    """The input shape (batch 1) and class count of the embedded default the run uses."""
    dataset = build_task(build_config({})).dataset  # type: ignore[attr-defined]
    return (1, *dataset.shape), dataset.classes


DIGITS = _digits()


def _hold_out(records: list, seed: str, a: argparse.Namespace) -> list:
    """The corpus without the variants the improver can ask of the seed in one step, so that
    no prompt of the loop is a training pair (its parent is the seed or a generated file)."""
    ops = {o for o in a.operators.split(",") if o}
    asked = {m.describe() for m in applicable_mutations(seed, *DIGITS) if not ops or m.op in ops}
    return [r for r in records if r.description not in asked]


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


def _as_asked(cycle: list, cands: dict, asked: dict[int, dict]) -> str:
    """Of the answers to a seed parent: how many are exactly the file the heuristic generator
    makes of the instruction (only seeds are rewritten here: the mutation engine executes
    the parent in this process, and generated files are run in the sandbox alone)."""
    hits = total = 0
    for cand in cycle:
        parent = cands.get(cand.parent_id)
        spec = (asked.get(cand.id) or {}).get("mutation")
        if parent is None or not parent.origin.startswith("seed:") or not spec:
            continue
        total += 1
        want = apply_mutation(parent.code, Mutation(**spec), *DIGITS)
        hits += int(bool(cand.code) and cand.code.strip() == want.strip())
    return f"{hits} / {total}"


def _held_out_valid(cycles: list, row: dict, cands: dict, asked: dict[int, dict]) -> str:
    """Valid answers among the cycle's held-out prompts: those whose (parent, change) no
    training pair of an earlier cycle asked for (the figure that cannot be recall)."""
    keys = trained_keys(cycles, row["cycle"])
    valid = held = 0
    for cand in _in_cycle(cands, row):
        parent = cands.get(cand.parent_id)
        mod = (asked.get(cand.id) or {}).get("modification")
        if parent is None or mod is None or prompt_key(parent.code or "", mod) in keys:
            continue
        held += 1
        valid += int(is_valid(cand, cands))
    return f"{valid} / {held}"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def model_dir(work: Path, a: argparse.Namespace) -> Path:
    """Where the tiny model lives: named by its arguments and the builder's source."""
    src = Path(tinymodel.__file__).read_bytes()
    key = hashlib.sha256(src + f"{a.hidden}-{a.layers}-{a.seed}".encode()).hexdigest()[:10]
    return work / f"model-h{a.hidden}-l{a.layers}-s{a.seed}-{key}"


def _run(a: argparse.Namespace) -> tuple[Path, Path, dict, float, float]:
    """Build the model and corpus (once per work folder), then run the search."""
    a.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = model_dir(a.work, a)
    if not (model / "config.json").exists():
        tinymodel.build(model, hidden=a.hidden, layers=a.layers, seed=a.seed)
    records, seed_files = [], []
    share = a.corpus // len(a.seed_file)  # variants per seed
    for path in a.seed_file:
        seed = path.read_text()
        own = a.work / f"{path.stem}-{share}.jsonl"
        build_corpus(seed, path.name, own, CorpusOptions(share))
        records += _hold_out(read_records(own), seed, a)
        seed_files.append(a.work / path.name)
        seed_files[-1].write_text(seed)
    if a.single_change:  # one channel group changed: one width to write twice, no more
        records = [r for r in records if len(r.mutations) == 1]
    stems = "+".join(p.stem for p in a.seed_file)
    corpus = a.work / f"{stems}-{a.corpus}-held-out{'-single' if a.single_change else ''}.jsonl"
    corpus.write_text("".join(r.model_dump_json() + "\n" for r in records))
    setup_s = time.perf_counter() - t0

    out = a.work / f"run-{int(time.time())}"
    cfg = build_config(settings(a, model, corpus, seed_files))
    new_run(cfg, out)
    t1 = time.perf_counter()
    summary = drive(cfg, out)
    run_s = time.perf_counter() - t1
    return out, corpus, summary, setup_s, run_s


def main() -> None:
    a = parse()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.table:
        out = a.table
        corpus = Path(json.loads((out / "config.json").read_text())["finetune"]["corpus"])
        summary = json.loads((out / "summary.json").read_text())
        setup_s, run_s = 0.0, summary["wall_s"]
    else:
        out, corpus, summary, setup_s, run_s = _run(a)
    archive = Archive(out / ARCHIVE)
    try:
        cycles = CycleStore(archive).cycles()
        cands = {c.id: c for c in archive.candidates()}
        asked = {cid: archive.instruction(cid) or {} for cid in cands}
    finally:
        archive.close()
    variants = {r.code.strip() for r in read_records(corpus)}
    print(f"### Fine-tuning cycles ({time.strftime('%Y-%m-%d')}, {platform.machine()}, CPU)\n")
    print(
        f"`python bench/finetune_cycles.py --cycles {a.cycles} --every {a.every} "
        f"--corpus {a.corpus} --corpus-pairs {a.corpus_pairs} --mode {a.mode} "
        f"--seed-file {' '.join(str(p) for p in a.seed_file)} --epochs {a.epochs} "
        f"--lr {a.lr:g} --warmup {a.warmup:g} "
        f"--elite-repeat {a.elite_repeat} --temperature {a.temperature:g} "
        f"--operators '{a.operators}'"
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
        "valid rate | new / duplicate | distinct | corpus copies | as asked (seed parent) | "
        "held out | valid of held out | "
        "mean / best val_accuracy | "
        "elites | adapter loss (first -> last) | train s | why the others failed |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|---|---|---|---:|---|---:|---|")
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
            f"| {o['copies']} | {_as_asked(cycle, cands, asked)} "
            f"| {gen - s.get('seen_in_training', 0)} / {gen} "
            f"| {_held_out_valid(cycles, row, cands, asked)} "
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
        json.dumps({"args": vars(a), "run": str(out), "cycles": rows}, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
