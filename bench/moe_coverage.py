"""Stratified against lexicographic sampling of 4-expert ensembles, at the same budget.

    .venv/bin/python bench/moe_coverage.py [--mutants 2] [--budget 10] [--seed 0]

Families: the three built-in seeds and `--mutants` LibCST mutants of each (trusted
lineage, built in this process), written to bench/out/moe-families. Each sampler draws
`--budget` ensembles of 4 (`nasloop corpus moe`, resumable, bench/out/moe-<sampler>.jsonl),
each trained one epoch on digits in the sandbox; the script prints the coverage figures and
the best and mean validation accuracy side by side, as Markdown.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SAMPLERS = ("lexicographic", "stratified")


def write_families(mutants: int, seed: int) -> Path:
    """The seeds and `mutants` distinct one-mutation mutants of each (different operators)."""
    from nasloop.agents.mutation import apply_mutation
    from nasloop.agents.mutation.api import applicable_mutations
    from nasloop.agents.mutation.spec import MutationError
    from nasloop.tasks.image_classification.seeds import list_seeds

    folder = OUT / "moe-families"
    folder.mkdir(parents=True, exist_ok=True)
    shape = (1, 1, 32, 32)
    for name, code in list_seeds().items():
        (folder / f"{name}.py").write_text(code, encoding="utf-8")
        options = applicable_mutations(code, shape, 10)
        random.Random(f"{seed}:{name}").shuffle(options)
        used: set[str] = set()
        for m in options:
            if len(used) == mutants:
                break
            if m.op in used:
                continue
            try:
                child = apply_mutation(code, m, shape, 10)
            except MutationError:
                continue
            used.add(m.op)
            (folder / f"{name}_{m.op}.py").write_text(child, encoding="utf-8")
    return folder


def campaign(families: Path, sampler: str, budget: int, seed: int) -> dict:
    out = OUT / f"moe-{sampler}-{budget}-s{seed}.jsonl"
    args = [sys.executable, "-m", "nasloop", "corpus", "moe", "--families", str(families),
            "--k", "4", "--sampler", sampler, "--count", str(budget), "--seed", str(seed),
            "--evaluate", "--out", str(out), "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def markdown(results: dict[str, dict]) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    rows = [
        ("ensembles (scored)", lambda c: f"{c['ensembles']} ({c['scored']})"),
        ("families drawn / all", lambda c: f"{c['families'] - len(c['never_drawn'])} / "
                                           f"{c['families']}"),
        ("most frequent family: share", lambda c: f"{c['most_frequent']}: "
                                                  f"{c['most_frequent_share']:.0%}"),
        ("appearances min-max", lambda c: f"{min(c['appearances'].values())}-"
                                          f"{max(c['appearances'].values())}"),
        ("pairs covered", lambda c: f"{c['pairs_covered']:.0%}"),
        ("best val accuracy", lambda c: f(c["best_accuracy"])),
        ("mean val accuracy", lambda c: f(c["mean_accuracy"])),
        ("best ensemble", lambda c: "+".join(c["best"] or [])),
    ]
    lines = ["| figure | " + " | ".join(results) + " |", "|---|" + "---|" * len(results)]
    lines += [f"| {name} | " + " | ".join(get(c) for c in results.values()) + " |"
              for name, get in rows]
    strat = results.get("stratified")
    if strat:
        ranked = sorted((m, n) for n, m in strat["marginal"].items() if m is not None)
        if ranked:
            lines += ["", "stratified, marginal effect per family (mean accuracy with it minus "
                      "without): " + ", ".join(f"{n} {m:+.3f}" for m, n in reversed(ranked))]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=2)
    parser.add_argument("--budget", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    families = write_families(args.mutants, args.seed)
    results = {s: campaign(families, s, args.budget, args.seed) for s in SAMPLERS}
    print(markdown(results))


if __name__ == "__main__":
    main()
