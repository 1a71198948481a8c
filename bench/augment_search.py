"""Augmentation search: evaluations to reach the top 5 % of a brute-force corpus.

    python bench/augment_search.py --n 60 --budget 20 --seeds 0,1,2 --jobs 2

1. Brute force: N random catalogue compositions of 1-3 ops (`nasloop corpus transforms
   --evaluate`), LeNet on digits, one epoch each, training seed 0. The target is the
   accuracy of its top 5 % (the ceil(0.05 N)-th best).
2. Random sampling from the same catalogue: the corpus in a random order per seed (draws
   without replacement from the same distribution; its evaluations are already paid).
3. Guided search: `nasloop run --task augmentation --budget B --seed S` with the heuristic
   agents (the three seed transforms first; every candidate counts, failures and
   duplicates included), one run per seed. Its training seed is the run's seed.

Prints per method and seed the evaluations until a transform reached the target (">B"
when none did within the budget) and the best accuracy found, then the medians side by
side. The tiny fine-tuned model is not part of this bench yet.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


def guided(seed: int, budget: int, work: Path) -> list[float | None]:
    out = work / f"run-{seed}"
    proc = subprocess.run([sys.executable, "-m", "nasloop", "run", "--task", "augmentation",
                           "--budget", str(budget), "--seed", str(seed), "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    archive = Archive(out / "archive.sqlite")
    try:
        return [c.score for c in sorted(archive.candidates(), key=lambda c: c.step)]
    finally:
        archive.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60, help="brute-force corpus size")
    ap.add_argument("--budget", type=int, default=20, help="guided search budget per seed")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--corpus", type=Path, help="reuse (and extend) this corpus file")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    work = Path(tempfile.mkdtemp(prefix="augment-bench-"))
    corpus = args.corpus or work / "brute.jsonl"
    build_transform_corpus(corpus, TransformCorpusOptions(count=args.n, evaluate=True,
                                                          jobs=args.jobs))
    records = read_transforms(corpus)[: args.n]
    accs = sorted((r.accuracy for r in records if r.accuracy is not None), reverse=True)
    k = max(1, math.ceil(0.05 * len(records)))
    target = accs[k - 1]
    rows = []
    for seed in seeds:
        order = [r.accuracy for r in records]
        random.Random(seed).shuffle(order)
        first = [a for a in order[: args.budget] if a is not None]
        rows.append({"method": "random", "seed": seed, "evals": hits(order, target),
                     "best_in_budget": max(first, default=None)})
        scores = guided(seed, args.budget, work)
        rows.append({"method": "heuristic", "seed": seed, "evals": hits(scores, target),
                     "best_in_budget": max((s for s in scores if s is not None), default=None)})
    summary = {"n": len(records), "failed": sum(r.accuracy is None for r in records),
               "top5_target": target, "best": accs[0], "budget": args.budget, "rows": rows}
    for method in ("random", "heuristic"):
        got = [r["evals"] if r["evals"] is not None else args.budget + 1
               for r in rows if r["method"] == method]
        summary[f"median_evals_{method}"] = statistics.median(got)
    if args.json:
        print(json.dumps(summary, indent=1))
        return
    print(f"brute force: {summary['n']} transforms ({summary['failed']} failed), best "
          f"{accs[0]:.4f}, top-5 % target {target:.4f} (top {k})")
    print(f"{'method':<10} {'seed':>4} {'evals to target':>16} {'best within budget':>19}")
    for r in rows:
        ev = str(r["evals"]) if r["evals"] is not None else f">{args.budget}"
        best = f"{r['best_in_budget']:.4f}" if r["best_in_budget"] is not None else "-"
        print(f"{r['method']:<10} {r['seed']:>4} {ev:>16} {best:>19}")
    print(f"median evaluations to target (misses count as budget+1): random "
          f"{summary['median_evals_random']}, heuristic {summary['median_evals_heuristic']}; "
          f"brute force {summary['n']}")


if __name__ == "__main__":
    main()
