"""Loop overhead on the default search: the share of wall time spent outside candidate evaluation.

Runs the embedded default (digits, heuristic agents, warm sandbox) in this process through
the same `drive` the CLI uses, timing every LangGraph node as its update arrives. Prints:

- loop overhead: wall time outside the sandbox calls (graph, checkpoints, archive, novelty,
  agents, summary files) as a share of the run's wall time — target <= 5 %;
- the same broken down per node;
- the teardown after the last node (stopping the sandbox worker) is printed apart;
- for context, the share outside training proper (adds the sandbox's check, data and
  validation time, which bench/sandbox_overhead.py measures on its own).

Usage: python bench/loop_overhead.py [--budget 30] [--out bench/out/loop]
"""

from __future__ import annotations

import argparse
import shutil
import time
from collections import defaultdict
from pathlib import Path

from nasloop.config import build_config
from nasloop.runner import drive, new_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/out/loop"))
    args = ap.parse_args()

    shutil.rmtree(args.out, ignore_errors=True)
    config = build_config({}, {"run.budget": args.budget, "run.seed": args.seed})
    new_run(config, args.out)

    per_node: dict[str, float] = defaultdict(float)
    last = [time.perf_counter()]

    def on_node(name: str) -> None:
        now = time.perf_counter()
        per_node[name] += now - last[0]
        last[0] = now

    t0 = time.perf_counter()
    last[0] = t0
    summary = drive(config, args.out, on_node=on_node)
    end = time.perf_counter()
    wall = last[0] - t0  # start-up and the loop, up to the last node
    teardown = end - last[0]  # closing the sandbox worker and the files

    eval_s = summary["eval_s"]
    outside_eval = wall - eval_s
    outside_train = wall - summary["train_s"]
    print(
        f"candidates {summary['candidates_generated']}, evaluated "
        f"{summary['candidates_evaluated']}, valid {summary['valid']}, duplicates "
        f"{summary['duplicates_skipped']}, best {summary['best_metric']:.4f} "
        f"(best seed {summary['best_seed_metric']:.4f})"
    )
    print(
        f"wall {wall:.1f} s (+ {teardown:.1f} s teardown), in sandbox {eval_s:.1f} s, "
        f"training proper {summary['train_s']:.1f} s"
    )
    print(f"loop overhead (outside sandbox calls): {outside_eval / wall:.2%}  (target <= 5 %)")
    print(f"outside training proper:               {outside_train / wall:.2%}")
    print("per node (share of wall):")
    for name, secs in sorted(per_node.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<9} {secs:8.2f} s  {secs / wall:7.2%}")


if __name__ == "__main__":
    main()
