"""Augmentation search: evaluations to reach the top 5 % of a brute-force corpus.

    python bench/augment_search.py --n 60 --budget 20 --seeds 0,1,2 --jobs 2 --tiny-every 4

1. Brute force: N random catalogue compositions of 1-3 ops (`nasloop corpus transforms
   --evaluate`), LeNet on digits, E epochs each (`--epochs`), training seed 0. The target is the
   accuracy of its top 5 % (the ceil(0.05 N)-th best).
2. Random sampling from the same catalogue: the corpus in a random order per seed (draws
   without replacement from the same distribution; its evaluations are already paid).
3. Guided search: `nasloop run --task augmentation --budget B --seed S` with the heuristic
   agents (the three seed transforms first; every candidate counts, failures and
   duplicates included), one run per seed S, with `train.seed = 0`: the agents vary with
   S, the training conditions are the brute-force corpus's.

4. The tiny fine-tuned model: the same run with `agents.generator = hf:<tiny model>` (the
   random-weight Qwen2-style coder of nasloop.finetune.tinymodel, built here, no
   download) and `[finetune]` on: after the seeds, a first cycle of E candidates written by
   the untrained model, then a LoRA adapter trained on better-than pairs and the next
   cycles generated with it. Its pairs come from a *separate* evaluated corpus (sampler seed
   1000, M transforms, none structurally in the brute-force corpus; its M evaluations are
   paid once for all seeds and reported), so the model cannot copy the brute-force corpus's
   best transform. Every candidate counts, the untrained cycle's failures included. It is
   asked as the pairs ask (`[task] ask = "better-than"`), greedily, with no history in its
   prompts (`memory.k = 0`: the 2-layer model only copes with prompts as long as those it
   was tuned on); the adapter: LR 1e-2, no dropout, `--tiny-epochs` passes.
   `--tiny-every 0` leaves this arm out.

Prints per method and seed the evaluations until a transform reached the target (">B"
when none did within the budget) and the best accuracy found, then the medians side by
side.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SEED = 0  # every evaluation of every method trains with it
sys.path.insert(0, str(ROOT / "src"))

from nasloop.memory.archive import Archive  # noqa: E402
from nasloop.tasks.augmentation.corpus import (  # noqa: E402
    TransformCorpusOptions,
    build_transform_corpus,
)
from nasloop.tasks.augmentation.records import read_transforms  # noqa: E402


def hits(scores: list[float | None], target: float) -> int | None:
    """Evaluations (1-based) until a score reached `target`; None when none did."""
    for i, s in enumerate(scores, 1):
        if s is not None and s >= target - 1e-12:
            return i
    return None


def base_config(epochs: int, ask: str = "typed") -> str:
    """The settings every guided run shares with the brute-force corpus (TOML)."""
    return (f'[task]\nkind = "augmentation"\nask = "{ask}"\n[train]\nepochs = {epochs}\n'
            f"seed = {TRAIN_SEED}\n")


def guided(seed: int, budget: int, work: Path, config: Path) -> list[float | None]:
    """Scores in step order of one `nasloop run` with `config`."""
    out = work / f"run-{config.stem}-{seed}"
    how = ["--config", str(config)]
    proc = subprocess.run([sys.executable, "-m", "nasloop", "run", *how,
                           "--budget", str(budget), "--seed", str(seed), "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    archive = Archive(out / "archive.sqlite")
    try:
        return [c.score for c in sorted(archive.candidates(), key=lambda c: c.step)]
    finally:
        archive.close()


def tiny_config(work: Path, corpus: Path, every: int, epochs: int, pairs: int,
                train_epochs: int) -> Path:
    """The tiny arm's config file (the tiny model is built once into `work`)."""
    from nasloop.finetune.tinymodel import build

    model = work / "tiny-model"
    if not model.is_dir():  # the fine-tuning bench's tiny coder: a LoRA moves it
        build(model, hidden=128, layers=2, heads=4, vocab=2500, stdlib_bytes=200_000)
    cfg = work / "tiny.toml"
    cfg.write_text(
        base_config(train_epochs, ask="better-than") + "[memory]\nk = 0\n" +
        f'[agents]\ngenerator = "hf:{model}"\nimprover = "heuristic"\nmax_new_tokens = 200\n'
        'retries = 0\ntemperature = 0.0\nmode = "full"\n'
        f'[finetune]\nenabled = true\nevery = {every}\ncorpus = "{corpus}"\n'
        f"corpus_pairs = {pairs}\nepochs = {epochs}\nbatch_size = 2\nlearning_rate = 1e-2\n"
        "dropout = 0.0\nreliability_candidates = 0\n", encoding="utf-8")
    return cfg


def pairs_corpus(brute: list, n: int, jobs: int, work: Path, epochs: int
                 ) -> tuple[Path, int]:
    """A separate evaluated corpus for the tiny arm's pairs (sampler seed 1000), without
    the brute-force corpus's structures; (its file, evaluations it cost)."""
    path = work / "pairs-corpus.jsonl"
    build_transform_corpus(path, TransformCorpusOptions(
        count=n, seed=1000, evaluate=True, jobs=jobs, epochs=epochs, train_seed=TRAIN_SEED))
    taken = {r.id for r in brute}
    records = read_transforms(path)
    kept = [r for r in records if r.id not in taken]
    clean = work / "pairs-corpus-disjoint.jsonl"
    clean.write_text("".join(r.model_dump_json() + "\n" for r in kept), encoding="utf-8")
    return clean, len(records)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="brute-force corpus size")
    ap.add_argument("--budget", type=int, default=20, help="guided search budget per seed")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1, help="training epochs per transform")
    ap.add_argument("--corpus", type=Path, help="reuse (and extend) this corpus file")
    ap.add_argument("--tiny-every", type=int, default=4, help="tiny arm: candidates per "
                    "fine-tuning cycle (0: no tiny arm)")
    ap.add_argument("--tiny-corpus", type=int, default=20, help="tiny arm: transforms in "
                    "its separate pairs corpus")
    ap.add_argument("--tiny-epochs", type=int, default=60, help="tiny arm: LoRA epochs")
    ap.add_argument("--tiny-pairs", type=int, default=8, help="tiny arm: corpus pairs per "
                    "cycle")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="augment-bench-"))
    corpus = args.corpus or work / "brute.jsonl"
    build_transform_corpus(corpus, TransformCorpusOptions(
        count=args.n, evaluate=True, jobs=args.jobs, epochs=args.epochs, train_seed=TRAIN_SEED))
    records = read_transforms(corpus)[: args.n]
    accs = sorted((r.accuracy for r in records if r.accuracy is not None), reverse=True)
    k = max(1, math.ceil(0.05 * len(records)))
    target = accs[k - 1]
    print(f"# brute force: {len(records)} transforms, target {target:.4f}, work {work}",
          file=sys.stderr, flush=True)
    methods = ["random", "heuristic"]
    tiny_cfg, tiny_cost = None, 0
    if args.tiny_every:
        methods.append("tiny")
        clean, tiny_cost = pairs_corpus(records, args.tiny_corpus, args.jobs, work, args.epochs)
        tiny_cfg = tiny_config(work, clean, args.tiny_every, args.tiny_epochs, args.tiny_pairs,
                               args.epochs)
    heuristic_cfg = work / "heuristic.toml"
    heuristic_cfg.write_text(base_config(args.epochs), encoding="utf-8")
    rows = []
    wall: dict[str, float] = dict.fromkeys(methods, 0.0)
    for seed in seeds:
        order = [r.accuracy for r in records]
        random.Random(seed).shuffle(order)
        first = [a for a in order[: args.budget] if a is not None]
        rows.append({"method": "random", "seed": seed, "evals": hits(order, target),
                     "best_in_budget": max(first, default=None)})
        for method, cfg in (("heuristic", heuristic_cfg), ("tiny", tiny_cfg)):
            if method not in methods or cfg is None:
                continue
            t0 = time.perf_counter()
            scores = guided(seed, args.budget, work, cfg)
            wall[method] += time.perf_counter() - t0
            rows.append({"method": method, "seed": seed, "evals": hits(scores, target),
                         "best_in_budget": max((s for s in scores if s is not None),
                                               default=None),
                         "trained": sum(s is not None for s in scores)})
            print(f"# {json.dumps(rows[-1])} ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
    summary = {"n": len(records), "failed": sum(r.accuracy is None for r in records),
               "top5_target": target, "best": accs[0], "budget": args.budget,
               "tiny_pairs_corpus_evaluations": tiny_cost,
               "wall_s": {m: round(w, 1) for m, w in wall.items() if m != "random"},
               "rows": rows}
    for method in methods:
        got = [r["evals"] if r["evals"] is not None else args.budget + 1
               for r in rows if r["method"] == method]
        summary[f"median_evals_{method}"] = statistics.median(got)
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"brute force: {summary['n']} transforms ({summary['failed']} failed), best "
          f"{accs[0]:.4f}, top-5 % target {target:.4f} (top {k})")
    print(f"{'method':<10} {'seed':>4} {'evals to target':>16} {'best within budget':>19} "
          f"{'trained':>8}")
    for r in rows:
        ev = str(r["evals"]) if r["evals"] is not None else f">{args.budget}"
        best = f"{r['best_in_budget']:.4f}" if r["best_in_budget"] is not None else "-"
        print(f"{r['method']:<10} {r['seed']:>4} {ev:>16} {best:>19} "
              f"{r.get('trained', args.budget):>8}")
    medians = ", ".join(f"{m} {summary[f'median_evals_{m}']}" for m in methods)
    print(f"median evaluations to target (misses count as budget+1): {medians}; "
          f"brute force {summary['n']}")
    if tiny_cost:
        print(f"tiny arm: its pairs corpus cost {tiny_cost} evaluations (once, all seeds)")
    print("wall seconds: " + ", ".join(f"{m} {w}" for m, w in summary["wall_s"].items()))


if __name__ == "__main__":
    main()
