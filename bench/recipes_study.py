"""The recipe study on digits for the three built-in seeds, at 1 and 5 epochs, as Markdown.

    .venv/bin/python bench/recipes_study.py [--epochs 1 5] [--seeds 1] [--jobs 2]

Runs `nasloop study recipes` (resumable, in bench/out/recipes-E) for each epoch budget and
prints, per budget, the accuracy of every (model, loss, optimizer), the best recipe per
model, and mean rank / wins per recipe.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ("lenet", "resnet_small", "vgg_small")


def study(epochs: int, seeds: int, jobs: int) -> dict:
    out = ROOT / "bench" / "out" / f"recipes-{epochs}ep-{seeds}s"
    args = [sys.executable, "-m", "nasloop", "study", "recipes", "--out", str(out),
            "--epochs", str(epochs), "--seeds", str(seeds), "--jobs", str(jobs), "--json"]
    for s in SEEDS:
        args += ["--models", s]
    proc = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def markdown(summary: dict, epochs: int) -> str:
    from nasloop.tasks.recipes.vocab import GRID_LOSSES, OPTIMIZERS

    cells = {(r["model"], r["loss"], r["optimizer"]): r for r in summary["table"]}
    lines = [f"### {epochs} epoch(s)", "",
             "| model | loss | " + " | ".join(OPTIMIZERS) + " |",
             "|---|---|" + "---:|" * len(OPTIMIZERS)]
    for model in SEEDS:
        best = set(summary["best"].get(f"{model}/digits", []))
        for loss in GRID_LOSSES:
            row = []
            for opt in OPTIMIZERS:
                r = cells.get((model, loss, opt))
                if r is None:
                    row.append("-")
                elif r["accuracy"] is None:
                    row.append("/".join(r["failures"]))
                else:
                    text = f"{r['accuracy']:.3f}"
                    row.append(f"**{text}**" if r["recipe"] in best else text)
            lines.append(f"| {model} | {loss} | " + " | ".join(row) + " |")
    lines += ["", "| recipe | mean rank | wins |", "|---|---:|---:|"]
    for name, rank in list(summary["mean_rank"].items())[:8]:
        lines.append(f"| {name} | {rank:.2f} | {summary['wins'].get(name, 0)} |")
    verdict = summary["best_everywhere"]
    lines += ["", f"best everywhere: {', '.join(verdict) if verdict else 'none'}", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    a = parser.parse_args()
    for epochs in a.epochs:
        print(markdown(study(epochs, a.seeds, a.jobs), epochs))


if __name__ == "__main__":
    main()
