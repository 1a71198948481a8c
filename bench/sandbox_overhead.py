"""Sandbox overhead: the same candidates trained in-process, through the warm sandbox and
through a cold-start sandbox, side by side in one run.

    .venv/bin/python bench/sandbox_overhead.py [--repeats 5] [--cold-repeats 2]

Prints a markdown section (for bench/README.md): per candidate, the median wall time of
each way and the ratios warm/in-process (target <= 1.05), back-to-back warm/in-process and
cold/in-process. A fourth way splits the warm overhead in two: the candidate run once in a
fresh fork of a warmed, unconfined helper process (what any process-per-candidate design
pays: page faults, oneDNN kernels compiled for the candidate's shapes) against the
sandbox's own cost (confinement, job and result transfer). A fifth way trains each
candidate once, after the others, in an unconfined long-lived process started fresh each
round ("first run": what a search without a sandbox pays; the in-process way repeats each
candidate in one process, so its kernels and memory are already there). Wall time
is what the caller waits for: check + one epoch on digits + validation, plus for the
sandboxes the fork/spawn, isolation set-up, result transfer and process-tree cleanup.
The script re-runs itself with the sandbox worker's malloc settings, so both sides
allocate alike.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANDIDATE_DIRS = [ROOT / "tests" / "fixtures" / "candidates",
                  ROOT / "src" / "nasloop" / "tasks" / "image_classification" / "seeds"]


def candidates() -> dict[str, str]:
    """Every fixture candidate and seed architecture that passes the static check."""
    from nasloop.tasks.image_classification.contract import ContractError, detect_form

    found: dict[str, str] = {}
    for folder in CANDIDATE_DIRS:
        for path in sorted(folder.glob("*.py")):
            code = path.read_text()
            try:
                detect_form(code)
            except ContractError:
                continue
            found[f"{folder.name}/{path.stem}"] = code
    return found


def timed_in_process(job: object, splits: object, audits: list[float] | None = None
                     ) -> float:
    """Train and score in this process: the same work as the sandbox's child plus the
    trusted side's scoring of the predictions it returns. The audit's part goes to
    `audits`."""
    from nasloop.tasks.image_classification.scoring import run_in_process

    t0 = time.perf_counter()
    result = run_in_process(job, splits)
    wall = time.perf_counter() - t0
    if result["status"] != "ok":
        raise SystemExit(f"in-process run failed: {result.get('message')}")
    if audits is not None:
        audits.append(result["audit_s"])
    return wall


def trains_on_digits(job: object, splits: object) -> bool:
    """Whether the candidate trains on digits as served (1 channel): a 3-channel-only
    fixture is left out, with a note."""
    from nasloop.tasks.image_classification.scoring import run_in_process

    return run_in_process(job, splits)["status"] == "ok"


def timed_sandbox(executor: object, job: object, audits: list[float] | None = None
                  ) -> float:
    """The caller's wait for a sandboxed result; the worker's time for its audit hop goes
    to `audits`."""
    t0 = time.perf_counter()
    result = executor.result(executor.submit(job))  # type: ignore[attr-defined]
    wall = time.perf_counter() - t0
    if result.status != "ok":
        raise SystemExit(f"sandboxed run failed: {result.failure_class}: {result.message}")
    if audits is not None:
        audits.append(result.audit_s)
    return wall


def fork_helper() -> None:
    """`--fork-helper`: read jobs (JSON lines) on stdin; run each once in a fresh fork of
    this warmed, single-threaded process, set up as the sandbox's pre-forked process is
    (warm-ups and heap touch before the clock starts) but with no confinement; print its
    wall time."""
    import os
    import sys

    import torch

    from nasloop.data.loaders import load_dataset
    from nasloop.data.split_files import candidate_view
    from nasloop.sandbox import allocator
    from nasloop.sandbox.job import EvalJob
    from nasloop.sandbox.zygote import _warm_cpu, _warm_until_job
    from nasloop.tasks.image_classification.runner import ImageClassificationRunner

    torch.set_num_threads(1)
    runner = ImageClassificationRunner()
    runner.preload()  # what the sandbox's worker preloads
    splits = load_dataset("digits", None, 0)
    print("ready", flush=True)
    for line in sys.stdin:
        job = EvalJob.model_validate_json(line)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            _warm_cpu()  # as the sandbox's waiting process does (nothing to read: all run)
            allocator.prefault_heap(read)
            _warm_until_job(runner.warm, candidate_view(splits), read)
            os.close(read)
            wall = timed_in_process(job, splits)
            os.write(write, f"{wall}\n".encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as fh:
            answer = fh.read().strip()
        os.waitpid(pid, 0)
        print(answer or "failed", flush=True)


def first_run_helper() -> None:
    """`--first-helper`: read jobs (JSON lines) on stdin; train each in this long-lived,
    unconfined process and print its wall time: what a search without a sandbox pays for a
    candidate it trains for the first time (after the ones before it)."""
    import sys

    import torch

    from nasloop.data.loaders import load_dataset
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.image_classification import trainer

    torch.set_num_threads(1)
    trainer.preload()
    splits = load_dataset("digits", None, 0)
    print("ready", flush=True)
    for line in sys.stdin:
        print(timed_in_process(EvalJob.model_validate_json(line), splits), flush=True)


class ForkBaseline:
    """The driving side of `--fork-helper` (and of `--first-helper`)."""

    def __init__(self, mode: str = "--fork-helper") -> None:
        import subprocess
        import sys

        self.proc = subprocess.Popen([sys.executable, __file__, mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]

    def timed(self, job: object) -> float:
        self.proc.stdin.write(job.model_dump_json() + "\n")  # type: ignore[attr-defined,union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        answer = self.proc.stdout.readline().strip()  # type: ignore[union-attr]
        if answer == "failed":
            raise SystemExit("a fresh-fork run failed")
        return float(answer)

    def close(self) -> None:
        self.proc.stdin.close()  # type: ignore[union-attr]
        self.proc.wait(timeout=60)


def same_allocator() -> None:
    """Re-run this script with the allocator settings the sandbox's worker starts with
    (nasloop.sandbox.allocator): the in-process baseline must not differ in its malloc."""
    import os
    import sys

    from nasloop.sandbox.allocator import MALLOC_ENV

    if any(os.environ.get(k) != v for k, v in MALLOC_ENV.items()):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **MALLOC_ENV})


def main() -> None:
    same_allocator()
    import sys

    if sys.argv[1:] == ["--fork-helper"]:
        fork_helper()
        return
    if sys.argv[1:] == ["--first-helper"]:
        first_run_helper()
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="in-process and warm runs each")
    parser.add_argument("--cold-repeats", type=int, default=2, help="cold runs per candidate")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--isolation", default="auto", choices=["auto", "bwrap", "none"])
    args = parser.parse_args()

    import torch

    from nasloop.data.loaders import load_dataset
    from nasloop.sandbox.executor import LocalExecutor
    from nasloop.tasks.image_classification import trainer
    from nasloop.tasks.image_classification.jobs import eval_job

    torch.set_num_threads(1)  # what the sandbox child uses (job.threads)
    trainer.preload()
    splits = load_dataset("digits", None, 0)
    cands = candidates()
    jobs = {name: eval_job(code, i, epochs=args.epochs)
            for i, (name, code) in enumerate(cands.items())}
    for name in [n for n, job in jobs.items() if not trains_on_digits(job, splits)]:
        print(f"left out {name}: it does not train on digits as served")
        del jobs[name]
    times: dict[str, dict[str, list[float]]] = {
        n: {"in": [], "first": [], "fork": [], "warm": [], "b2b": [], "cold": [],
            "audit_in": [], "audit_hop": []}
        for n in jobs}
    forks = ForkBaseline()
    with LocalExecutor(mode="warm", isolation=args.isolation) as warm:
        first = next(iter(jobs.values()))
        timed_sandbox(warm, first)  # start the worker and cache the dataset
        timed_in_process(first, splits)
        for _ in range(args.repeats):  # interleaved, so machine load hits all alike
            first = ForkBaseline("--first-helper")  # a fresh one per round: first runs only
            for name, job in jobs.items():
                t = times[name]
                t["in"].append(timed_in_process(job, splits, t["audit_in"]))
                t["first"].append(first.timed(job))
                t["fork"].append(forks.timed(job))
                t["warm"].append(timed_sandbox(warm, job, t["audit_hop"]))
                # right after the last: waits for its teardown and the next pre-fork
                times[name]["b2b"].append(timed_sandbox(warm, job))
            first.close()
        isolation = warm.isolation
    forks.close()
    with LocalExecutor(mode="cold", isolation=args.isolation) as cold:
        for _ in range(args.cold_repeats):
            for name, job in jobs.items():
                times[name]["cold"].append(timed_sandbox(cold, job))

    print("## Sandbox overhead\n")
    print(f"`bench/sandbox_overhead.py --repeats {args.repeats} --cold-repeats "
          f"{args.cold_repeats} --epochs {args.epochs}`: digits, {args.epochs} epoch(s), "
          f"1 thread, isolation `{isolation}`, Python {platform.python_version()}, "
          f"torch {torch.__version__}, {platform.machine()} CPU. Medians of wall time as the "
          "caller sees it.\n")
    print("| candidate | in-process s | first run s | fresh fork s | warm s | warm back-to-back s "
          "| cold s | warm/in | warm/first | fork/in | warm/fork | back-to-back/in | cold/in "
          "| audit in-process ms | audit hop ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios: dict[str, list[float]] = {"warm": [], "first": [], "fork": [], "sandbox": [],
                                      "b2b": [], "cold": [], "hop": []}
    for name, t in times.items():
        med = {k: statistics.median(v) for k, v in t.items()}
        for key in ("warm", "fork", "b2b", "cold"):
            ratios[key].append(med[key] / med["in"])
        ratios["first"].append(med["warm"] / med["first"])
        ratios["sandbox"].append(med["warm"] / med["fork"])
        ratios["hop"].append(1000 * (med["audit_hop"] - med["audit_in"]))
        print(f"| {name} | {med['in']:.3f} | {med['first']:.3f} | {med['fork']:.3f} | "
              f"{med['warm']:.3f} | {med['b2b']:.3f} | {med['cold']:.3f} | "
              f"{med['warm'] / med['in']:.3f} | {med['warm'] / med['first']:.3f} | "
              f"{med['fork'] / med['in']:.3f} | {med['warm'] / med['fork']:.3f} | "
              f"{med['b2b'] / med['in']:.3f} | {med['cold'] / med['in']:.2f} | "
              f"{1000 * med['audit_in']:.1f} | {1000 * med['audit_hop']:.1f} |")
    med_r = {k: statistics.median(v) for k, v in ratios.items()}
    print(f"\nMedian over candidates: warm/in-process **{med_r['warm']:.3f}** (target <= 1.05), "
          f"warm/first run in a long-lived process **{med_r['first']:.3f}**, fresh "
          f"fork/in-process **{med_r['fork']:.3f}**, warm/fresh fork **{med_r['sandbox']:.3f}**; "
          f"back-to-back/in-process **{med_r['b2b']:.3f}**, cold/in-process "
          f"**{med_r['cold']:.2f}**; the audit hop takes **{med_r['hop']:.1f} ms** more than "
          "the same audit in this process.")
    print("\n'in-process' repeats each candidate in one process (its kernels compiled, its "
          "memory grown); 'first run' trains each candidate once, after the ones before it, "
          "in an unconfined process started fresh each round: what a search without a "
          "sandbox pays.")
    print("\n'warm' is the latency of a result interleaved with other work (as in the search "
          "loop, where recording, the agents and the novelty check run between candidates); "
          "the candidate process's teardown and the next pre-fork happen after the result is "
          "returned. 'back-to-back' submits the next job the moment a result arrives, so it "
          "also pays for them.")
    print("\n'audit hop' is the worker's own clock from handing the graph to the pre-forked "
          "auditor to its result (`EvalResult.audit_s`); 'audit in-process' times the same "
          "audit in the in-process way.")


if __name__ == "__main__":
    main()
