"""Search quality: the default search against random baselines and its own ablations, at
equal budget on the embedded default (digits; `--dataset` names another from `nasloop data
list`, e.g. digits-noisy, which leaves a search more room), the same seeds and sandbox for
all.

    PYTHONPATH=src .venv/bin/python bench/search_quality.py [--seeds 10] [--budget 30] \
        [--methods default,k0,random-mutation,random-walk,random-chains] [--jobs 2] \
        [--epochs 1] [--final-epochs 1] [--final-seeds 1] [--dataset digits] [--json runs.json] \
        [--work DIR]
    .venv/bin/python bench/search_quality.py --load a.json b.json [--against tie]

Each method runs `nasloop run --seed S --budget B` for S = 0..seeds-1 (or from
`--first-seed` on; the seed drives the agents, training and the split alike, so seed S is a pair
across methods). Reported per method: the best validation accuracy found within 10, 20, 30,
... candidates (every candidate counts: seeds, duplicates, failures), median and IQR over
seeds; the test accuracy of each run's best (`nasloop final --top 1 --epochs E --seeds S`,
by default the same one-epoch recipe and the search's own training seed, scored on the test
split the search never saw; with S > 1 the mean over S training seeds, the architecture's
score rather than one lucky initialisation's); and against the default (or `--against`),
paired wins/losses and a two-sided Wilcoxon signed-rank p over the seeds both ran.
The runs stay in `--work` (a new temporary directory by default); a run already there is
resumed (`nasloop resume`: a finished one is left as it is, or grown to `--budget` if that
is larger than its own) rather than searched again, so a benchmark stopped early picks up
where it was, the finals of finished runs can be redone with other `--final-epochs` /
`--final-seeds`, and runs of budget 30 can be carried on to 120.

Methods: default (greedy, heuristic agents, memory k = 5), k0 (the same with memory.k = 0),
bandit (`[search] operator_credit = "bandit"`), tie (`[search] tie = 0.02`), map-elites,
islands, pareto (`[search] strategy`), random-mutation, random-walk, random-chains
(bench/search_baselines.py, improvers by import path), family-rotation (the bandit with
bench/search_baselines.py's FamilyRotation strategy), and reference: no search, the
hand-written bench/reference_net.py as the run's only seed (budget 1), scored the same way:
the line a search should clear.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
METHODS: dict[str, str] = {  # name -> config TOML
    "default": "",
    "k0": "[memory]\nk = 0\n",
    "map-elites": '[search]\nstrategy = "map-elites"\n',
    "islands": '[search]\nstrategy = "islands"\n',
    "pareto": '[search]\nstrategy = "pareto"\n',
    "random-mutation": '[agents]\nimprover = "python:search_baselines:RandomMutation"\n',
    "random-walk": '[agents]\nimprover = "python:search_baselines:RandomWalk"\n',
    "random-chains": '[agents]\nimprover = "python:search_baselines:RandomChains"\n',
    "bandit": '[search]\noperator_credit = "bandit"\n',
    "tie": '[search]\ntie = 0.02\n',
    "family-rotation": ('[search]\nstrategy = "search_baselines:FamilyRotation"\n'
                        'operator_credit = "bandit"\n'),
    "reference": f'[seeds]\nfiles = ["{BENCH / "reference_net.py"}"]\nbuiltin = false\n',
}
SINGLE = {"reference"}  # not a search: its one seed is the whole run


def nasloop(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(BENCH)])}
    return subprocess.run([sys.executable, "-m", "nasloop", *args], capture_output=True,
                          text=True, env=env)


def one_run(method: str, seed: int, budget: int, work: Path, final: tuple[int, int],
            dataset: str) -> dict:
    """Run one search on `dataset` and its final (`final`: epochs, seeds; seeds 0 for none);
    the scores in step order and the best's test score (the mean over the final's seeds)."""
    from nasloop.inspect.rundir import RunView
    from nasloop.rundir import RunDir

    out = work / f"{method}-{seed}"
    cfg = work / f"{method}.toml"
    t0 = time.perf_counter()
    if RunDir(out).holds_run():  # from an earlier benchmark in this --work: finish it,
        with RunView(out) as view:  # grown to this budget if it was run with a smaller one
            had = view.config().get("run", {}).get("budget", budget)
        grow = ["--budget", str(budget)] if budget > had and method not in SINGLE else []
        proc = nasloop("resume", str(out), *grow)
    else:
        proc = nasloop("run", "--config", str(cfg), "--seed", str(seed), "--budget",
                       str(1 if method in SINGLE else budget), "--dataset", dataset,
                       "--out", str(out))
    if proc.returncode != 0:
        raise SystemExit(f"{method} seed {seed}: {proc.stderr.strip()[-1500:]}")
    with RunView(out) as view:  # the run's own config: a resumed run keeps the one it began with
        scores = [c.score if c.status == "ok" else None
                  for c in sorted(view.candidates(), key=lambda c: c.step)]
        epochs = view.config().get("train", {}).get("epochs", 1)
    test, fin = None, None
    if final[1] > 0:
        fin = nasloop("final", str(out), "--top", "1", "--epochs", str(final[0]), "--seeds",
                      str(final[1]), "--json")
    if fin is not None and fin.returncode == 0:
        rows = json.loads(fin.stdout)["rows"]
        test = rows[0]["mean"] if rows else None
    return {"method": method, "seed": seed, "dataset": dataset, "scores": scores, "test": test,
            "epochs": epochs, "final": list(final), "wall_s": time.perf_counter() - t0}


def best_within(scores: list[float | None], n: int) -> float | None:
    got = [s for s in scores[:n] if s is not None]
    return max(got) if got else None


def iqr(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    q = statistics.quantiles(values, n=4)
    return f"{q[0]:.3f}-{q[2]:.3f}"


def paired(a: list[float | None], b: list[float | None]) -> tuple[int, int, int, float | None]:
    """(wins of a, losses, ties, two-sided Wilcoxon signed-rank p) over pairs both have."""
    from scipy.stats import wilcoxon

    pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    wins = sum(x > y for x, y in pairs)
    losses = sum(x < y for x, y in pairs)
    diffs = [x - y for x, y in pairs if x != y]
    p = float(wilcoxon(diffs).pvalue) if len(diffs) >= 2 else None
    return wins, losses, len(pairs) - wins - losses, p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds from this one on")
    ap.add_argument("--budget", type=int, default=30)
    ap.add_argument("--dataset", default="digits",
                    help="what every run searches on (`nasloop data list`)")
    ap.add_argument("--methods", default="default,k0,random-mutation,random-walk,random-chains")
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--epochs", type=int, default=1,
                    help="the proxy: epochs per candidate (`[train] epochs`), every method")
    ap.add_argument("--final-epochs", type=int, default=1, help="training epochs of the final")
    ap.add_argument("--final-seeds", type=int, default=1,
                    help="training seeds of the final, its test score their mean (0: no final)")
    ap.add_argument("--json", type=Path, help="also write every run's scores here")
    ap.add_argument("--work", type=Path,
                    help="where the runs live (default: a new temporary directory); runs "
                    "already there are resumed (grown to --budget), not searched again")
    ap.add_argument("--load", type=Path, nargs="+",
                    help="run nothing: report the runs these --json files hold (all methods)")
    ap.add_argument("--against", default="default", help="the method the pairs compare with")
    args = ap.parse_args()
    if args.load:
        runs = [r for f in args.load for r in json.loads(f.read_text(encoding="utf-8"))]
        methods = list(dict.fromkeys(r["method"] for r in runs))
        args.budget = max(len(r["scores"]) for r in runs)
        args.dataset = ", ".join(dict.fromkeys(r.get("dataset", "digits") for r in runs))
        how = f"{len(runs)} runs loaded from {', '.join(f.name for f in args.load)}"
    else:
        methods = args.methods.split(",")
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise SystemExit(f"unknown method {unknown[0]} (known: {', '.join(METHODS)})")
        work = args.work or Path(tempfile.mkdtemp(prefix="search-quality-"))
        work.mkdir(parents=True, exist_ok=True)
        proxy = f"[train]\nepochs = {args.epochs}\n" if args.epochs != 1 else ""
        for m in methods:
            (work / f"{m}.toml").write_text(METHODS[m] + proxy, encoding="utf-8")
        todo = [(m, s) for s in range(args.first_seed, args.first_seed + args.seeds)
                for m in methods]
        t0 = time.perf_counter()
        runs = []
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(one_run, m, s, args.budget, work,
                                   (args.final_epochs, args.final_seeds), args.dataset)
                       for m, s in todo]
            for done in as_completed(futures):
                runs.append(done.result())
                if args.json:  # after every run, so a long benchmark stopped early keeps them
                    args.json.write_text(json.dumps(runs, indent=1), encoding="utf-8")
        how = f"{len(runs)} runs in {(time.perf_counter() - t0) / 60:.1f} min"
    report(runs, methods, args.budget, args.against, how, args.dataset)


def report(runs: list[dict], methods: list[str], budget: int, against: str, how: str,
           dataset: str) -> None:
    """The markdown table: best@n and test of best per method, pairs (by seed) against
    `against` over the seeds both ran."""
    by = {m: sorted((r for r in runs if r["method"] == m), key=lambda r: r["seed"])
          for m in methods}
    seeds = sorted({r["seed"] for r in runs})
    marks = sorted({n for n in (10, 20, 30, 60, 120) if n <= budget} | {budget})
    print(f"## Search quality (`bench/search_quality.py`, {', '.join(methods)})\n")
    proxy = "/".join(str(e) for e in sorted({r.get("epochs", 1) for r in runs}))
    finals = "; ".join(f"{e} epoch(s), {n} seed(s)" for e, n in
                       sorted({tuple(r["final"]) for r in runs if "final" in r}))
    print(f"{dataset}, {proxy}-epoch proxy, seeds {seeds[0]}-{seeds[-1]}, budget {budget}, {how}. "
          "Best validation accuracy within n candidates and the test accuracy of the run's best"
          f"{f' (final: {finals})' if finals else ''} (median [IQR] over seeds).\n")
    head = " | ".join(f"best@{n}" for n in marks)
    print(f"| method | {head} | test of best | vs {against} on test (W/L/T, p) |")
    print("|---|" + "---:|" * len(marks) + "---:|---|")
    base = {r["seed"]: r["test"] for r in by.get(against, [])}
    for m in methods:
        cells = []
        for n in marks:
            got = [v for r in by[m] if (m in SINGLE or n <= len(r["scores"]))
                   and (v := best_within(r["scores"], n)) is not None]
            cells.append(f"{statistics.median(got):.3f} [{iqr(got)}]" if got else "-")
        tests = [r["test"] for r in by[m]]
        have = [t for t in tests if t is not None]
        test_cell = f"{statistics.median(have):.3f} [{iqr(have)}]" if have else "-"
        both = [r for r in by[m] if r["seed"] in base]  # the seeds `against` ran too
        if m == against or not both:
            vs = "-"
        else:
            w, loss, tie, p = paired([base[r["seed"]] for r in both], [r["test"] for r in both])
            vs = f"{w}/{loss}/{tie}, p = {p:.3f}" if p is not None else f"{w}/{loss}/{tie}"
        print(f"| {m} | {' | '.join(cells)} | {test_cell} | {vs} |")
    print(f"\nW/L/T counts the seeds where {against}'s best scored higher / lower / the same "
          "on test than this method's.")


if __name__ == "__main__":
    main()
