"""Cross-dataset suitability on digits-derived datasets: a search grows the item pool, the two
baselines and a tiny local model (LoRA, held-out networks per epoch), as Markdown.

    .venv/bin/python bench/suitability.py [--budget 30] [--epochs 3] [--lr 0.005]
                                          [--datasets digits,digits-inverted,digits-16px]

Runs one heuristic search (`nasloop run`, kind "suitability", 1 training epoch per candidate
and dataset, in bench/out/suitability/), builds the items in all three prompt variants
(`nasloop suitability build`), scores the majority and rule baselines on the held-out
networks (`suitability eval`), builds the tiny model of `nasloop.finetune.tinymodel` (random
weights, tokenizer trained here: nothing is downloaded) and LoRA-trains it on the train
networks' items (`suitability train`), printing its held-out accuracy before training and
after each epoch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "suitability"
VARIANTS = ("normalized", "metadata", "code")
TINY = {"hidden": 64, "layers": 2, "heads": 4, "vocab": 4096, "stdlib_bytes": 1_000_000}


def cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "nasloop", *args], check=True,
                          capture_output=True, text=True).stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--datasets", default="digits,digits-inverted,digits-16px")
    args = ap.parse_args()
    datasets = args.datasets.split(",")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    config = OUT / "search.toml"
    config.write_text(f'[task]\nkind = "suitability"\n[run]\nbudget = {args.budget}\n'
                      f"[data]\ndatasets = {json.dumps(datasets)}\n[train]\nepochs = 1\n")
    run = OUT / "run"
    cli("run", "--config", str(config), "--out", str(run))
    summary = json.loads((run / "summary.json").read_text())
    items = OUT / "items.jsonl"
    counts = json.loads(cli("suitability", "build", str(run), "--out", str(items), "--json",
                            *(a for v in VARIANTS for a in ("--prompt", v))))
    table = json.loads(cli("suitability", "eval", str(items)))

    from nasloop.finetune.tinymodel import build

    model = build(OUT / "tiny", **TINY)
    lora = OUT / "lora"
    cli("suitability", "train", str(items), "--model", f"hf:{model}", "--out", str(lora),
        "--epochs", str(args.epochs), "--lr", str(args.lr))
    rows = [json.loads(s) for s in (lora / "epochs.jsonl").read_text().splitlines()]

    pool = summary["suitability"]
    print(f"search: budget {args.budget}, datasets {', '.join(datasets)}, "
          f"{summary['valid']} trained; best {summary['metric']} "
          f"{summary['best_metric']:.4f}\n")
    print(f"items: {counts['items']} from {counts['networks']} networks ({counts['train']} "
          f"train, {counts['heldout']} held out); pool growth by cycle: "
          f"{', '.join(str(g['items']) for g in pool['growth'])}\n")
    print("| held-out accuracy | " + " | ".join(VARIANTS) + " | all |")
    print("|---|" + "---:|" * (len(VARIANTS) + 1))
    for name in ("majority", "rule"):
        t = table[name]
        print(f"| {name} baseline | " + " | ".join(
            f"{t['per_variant'][v]['accuracy']:.3f}" for v in VARIANTS)
            + f" | {t['overall']['accuracy']:.3f} |")
    for r in rows:
        loss = f", loss {r['loss']:.3f}" if r.get("loss") is not None else ""
        print(f"| tiny model, epoch {r['epoch']}{loss} ({r['unanswered']} unanswered) | "
              + " | ".join(f"{r['per_variant'][v]['accuracy']:.3f}" for v in VARIANTS)
              + f" | {r['heldout_accuracy']:.3f} |")
    per_variant_n = {v: table["rule"]["per_variant"][v]["n"] for v in VARIANTS}
    print(f"\nheld-out items per variant: {per_variant_n}; tiny model: {TINY}, "
          f"lr {args.lr}")


if __name__ == "__main__":
    main()
