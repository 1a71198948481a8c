"""Scaling: the same candidates through the local executor (1 and 2 in flight) and through
Ray (a local head started by nasloop), side by side in one run.

    .venv/bin/python bench/scaling.py [--mutants 3] [--cpus 2]

Prints a markdown section (for bench/README.md):
- throughput: candidates per minute with every candidate submitted at once, after each
  executor's warm-up (one job per slot: its sandbox worker imports torch once), which is
  reported apart;
- overhead: per candidate, what the orchestrator waited minus the time spent inside the
  sandbox (`EvalResult.wall_s`), one candidate at a time, local against Ray (median).
Ray needs `pip install 'nasloop[ray]'`; RAY_AUTH_MODE=token and
RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 are set here when unset (a head on 127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from nasloop.sandbox.executor import Executor
from nasloop.sandbox.job import EvalJob
from nasloop.tasks.image_classification.jobs import eval_job


@dataclass
class Row:
    name: str
    in_flight: int
    warmup_s: float
    batch_s: float
    ok: int
    total: int
    overhead_ms: list[float]


def candidates(mutants: int) -> list[tuple[str, str]]:
    """The built-in seeds, then the first `mutants` working mutants of them, round-robin."""
    from nasloop.agents.mutation.api import MutationError, applicable_mutations, apply_mutation
    from nasloop.tasks.image_classification.seeds import list_seeds

    seeds = list(list_seeds().items())
    out = list(seeds)
    options = {name: list(applicable_mutations(code)) for name, code in seeds}
    i = 0
    while len(out) < len(seeds) + mutants and any(options.values()):
        name, code = seeds[i % len(seeds)]
        i += 1
        if not options[name]:
            continue
        mutation = options[name].pop(0)
        try:
            out.append((f"{name}+{mutation.describe()}", apply_mutation(code, mutation)))
        except MutationError:
            continue
    return out


def jobs(codes: list[tuple[str, str]], first_id: int) -> list[EvalJob]:
    return [eval_job(code, first_id + i) for i, (_, code) in enumerate(codes)]


def run_all(ex: Executor, batch: list[EvalJob]) -> tuple[float, list]:
    """Submit every job at once; wall seconds until the last result, and the results."""
    t0 = time.perf_counter()
    handles = [ex.submit(j) for j in batch]
    results = [ex.result(h) for h in handles]
    return time.perf_counter() - t0, results


def one_at_a_time(ex: Executor, batch: list[EvalJob]) -> list[float]:
    """Per job: ms the caller waited beyond the sandbox's own time."""
    out = []
    for job in batch:
        t0 = time.perf_counter()
        result = ex.result(ex.submit(job))
        out.append((time.perf_counter() - t0 - result.wall_s) * 1000)
    return out


def measure(name: str, in_flight: int, make: Callable[[], Executor],
            codes: list[tuple[str, str]], sequential: bool) -> Row:
    t0 = time.perf_counter()
    ex = make()
    try:
        warm = jobs(codes[:1], 9000) * in_flight
        warm = [j.model_copy(update={"candidate_id": 9000 + i}) for i, j in enumerate(warm)]
        run_all(ex, warm)
        warmup = time.perf_counter() - t0
        batch_s, results = run_all(ex, jobs(codes, 1))
        overhead = one_at_a_time(ex, jobs(codes, 100)) if sequential else []
    finally:
        ex.close()
    ok = sum(r.status == "ok" for r in results)
    return Row(name, in_flight, warmup, batch_s, ok, len(results), overhead)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=3, help="mutants added to the 3 seeds")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the Ray head nasloop starts")
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

    from nasloop.sandbox.executor import LocalExecutor
    from nasloop.sandbox.ray_executor import RayExecutor

    codes = candidates(args.mutants)
    ray_init = {"num_cpus": args.cpus, "object_store_memory": 100 * 2**20}
    rows = [
        measure("local", 1, lambda: LocalExecutor(max_in_flight=1), codes, sequential=True),
        measure("local", 2, lambda: LocalExecutor(max_in_flight=2), codes, sequential=False),
        measure("ray (local head)", 2,
                lambda: RayExecutor(address="", in_flight=2, init_kwargs=ray_init), codes,
                sequential=True),
    ]
    print(f"## Scaling ({platform.machine()}, {os.cpu_count()} CPUs, {len(codes)} candidates: "
          f"3 seeds + {len(codes) - 3} mutants, digits, 1 epoch)\n")
    print("| executor | in flight | warm-up s | batch s | candidates/min | ok |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.name} | {r.in_flight} | {r.warmup_s:.1f} | {r.batch_s:.1f} | "
              f"{60 * r.total / r.batch_s:.1f} | {r.ok}/{r.total} |")
    local, ray = rows[0].overhead_ms, rows[2].overhead_ms
    print("\nPer-candidate orchestration overhead, one candidate at a time (waited minus time "
          "inside the sandbox), median [min-max] ms:\n")
    print("| executor | overhead ms |")
    print("|---|---:|")
    for label, xs in (("local", local), ("ray (local head)", ray)):
        print(f"| {label} | {statistics.median(xs):.0f} [{min(xs):.0f}-{max(xs):.0f}] |")
    print(f"\nRay adds {statistics.median(ray) - statistics.median(local):.0f} ms per "
          "candidate (median) over the local executor.")


if __name__ == "__main__":
    main()
