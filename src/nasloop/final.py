"""The final report of a run: its top K candidates (by the proxy score the search ranked
them by) trained longer with several training seeds, scored on the test split.

The test split is held out by the task (`Task.final_job`): the data is split by the run's
seed as in the search, whose candidates never get its labels, and the score is computed on
the trusted side from the predictions. Nothing here feeds back into a search: the report is
written to the run directory (`RunDir.final`) for the user, with the Spearman correlation
between proxy ranks and final ranks (how far the short proxy can be trusted).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from nasloop.memory.archive import Candidate
    from nasloop.sandbox.executor import Executor
    from nasloop.tasks.base import Objective, Task


class FinalError(Exception):
    """The final report cannot be made; the message is one line saying why."""


class SeedRun(BaseModel):
    """One training of one candidate."""

    seed: int
    status: str
    score: float | None = None  # the final metric (test split)
    proxy_metric: float | None = None  # the search's metric after the longer training
    failure_class: str | None = None
    message: str | None = None
    wall_s: float | None = None


class FinalRow(BaseModel):
    """One candidate of the report."""

    id: int
    proxy_rank: int  # 1 = the search's best
    proxy_score: float | None
    params: int | None
    runs: list[SeedRun] = Field(default_factory=list)
    mean: float | None = None
    std: float | None = None  # sample standard deviation over the seeds that trained
    min: float | None = None
    max: float | None = None
    final_rank: int | None = None  # by mean; None when no seed trained


class FinalReport(BaseModel):
    """What `nasloop final` writes to RUN/final.json."""

    metric: str  # e.g. test_accuracy
    proxy_metric: str  # e.g. val_accuracy
    proxy_epochs: int
    epochs: int
    seeds: list[int]
    split_seed: int
    rows: list[FinalRow]
    spearman: float | None  # proxy ranks against final ranks; None with fewer than 2 rows
    spearman_p: float | None  # undefined for 2 rows
    wall_s: float


def pick(candidates: list[Candidate], objective: Objective, top: int) -> list[Candidate]:
    """The `top` trained candidates by proxy score, best first (earliest on ties)."""
    trained = [c for c in candidates if c.status == "ok" and c.score is not None]
    return sorted(trained, key=lambda c: (objective.sort_key(c.score), c.id))[:top]


def summarise(rows: list[FinalRow], final: Objective) -> tuple[float | None, float | None]:
    """Fill each row's mean, spread and final rank; return (Spearman rho, p) of proxy ranks
    against final ranks over the rows with a mean (None when undefined)."""
    from scipy.stats import spearmanr

    for row in rows:
        scores = [r.score for r in row.runs if r.status == "ok" and r.score is not None]
        if scores:
            row.mean = statistics.fmean(scores)
            row.std = statistics.stdev(scores) if len(scores) > 1 else 0.0
            row.min, row.max = min(scores), max(scores)
    ranked = sorted((r for r in rows if r.mean is not None),
                    key=lambda r: (final.sort_key(r.mean), r.proxy_rank))
    for i, row in enumerate(ranked, 1):
        row.final_rank = i
    finals = [final.sort_key(r.mean) for r in ranked]
    if len(set(finals)) < 2:  # fewer than 2, or every final score equal: nothing to compare
        return None, None
    rho, p = spearmanr([r.proxy_rank for r in ranked], finals)
    if not math.isfinite(float(rho)):
        return None, None
    return float(rho), float(p) if math.isfinite(float(p)) else None  # p: none for n = 2


def run_final(
    task: Task, executor: Executor, candidates: list[Candidate], *, epochs: int,
    seeds: list[int], on_result: Callable[[int, SeedRun], None] | None = None,
) -> FinalReport:
    """Train every candidate with every seed in the sandbox (all submitted at once, the
    executor bounds how many run) and build the report."""
    final, objective = task.final_objective, task.objective
    if final is None:
        raise FinalError(f"the {task.kind} task has no held-out test split to report on")
    t0 = time.perf_counter()
    rows = [FinalRow(id=c.id, proxy_rank=i, proxy_score=c.score, params=c.params)
            for i, c in enumerate(candidates, 1)]
    pending: dict[str, tuple[FinalRow, int]] = {}
    for row, cand in zip(rows, candidates, strict=True):
        for seed in seeds:
            job = task.final_job(cand.id, cand.code or "", epochs=epochs, seed=seed)
            if job is None:
                raise FinalError(f"the {task.kind} task as configured offers no final test "
                                 "report (several datasets, or a runner of its own)")
            pending[executor.submit(job)] = (row, seed)
    for handle, (row, seed) in pending.items():
        res = executor.result(handle, timeout=None)
        metrics = res.metrics or {}
        got = SeedRun(seed=seed, status=res.status, score=metrics.get(final.metric),
                      proxy_metric=metrics.get(objective.metric),
                      failure_class=res.failure_class, message=(res.message or "")[:200] or None,
                      wall_s=res.wall_s)
        if got.status == "ok" and got.score is None:
            got = got.model_copy(update={"status": "failed", "failure_class": "bad-result",
                                         "message": f"no {final.metric} came back"})
        row.runs.append(got)
        if on_result is not None:
            on_result(row.id, got)
    for row in rows:
        row.runs.sort(key=lambda r: r.seed)
    rho, p = summarise(rows, final)
    return FinalReport(metric=final.metric, proxy_metric=objective.metric,
                       proxy_epochs=task.config.train.epochs, epochs=epochs, seeds=seeds,
                       split_seed=task.config.training_seed(), rows=rows, spearman=rho,
                       spearman_p=p, wall_s=time.perf_counter() - t0)


def read_report(text: str) -> FinalReport:
    """A report as `nasloop final` wrote it (ValueError when it is not one)."""
    return FinalReport.model_validate_json(text)
