"""Evaluation of one cycle's candidates through the executor, recorded as each completes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from nasloop.graph.resources import Resources
from nasloop.memory.archive import Archive, Candidate
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.job import EvalResult
from nasloop.tasks.base import Objective
from nasloop.textsafe import plain

POLL_S = 0.05
MESSAGE_CHARS, TEXT_CHARS = 500, 4000  # what is kept of a candidate's message, log, traceback


COUNTS = ("params", "flops")  # metrics that must be finite, non-negative counts


def objective_score(objective: Objective, result: EvalResult) -> tuple[float | None, str]:
    """The objective's value in an "ok" result, or None and why the result cannot be
    believed (the metric missing, not finite, outside its domain, or a count that is not)."""
    value = result.metrics.get(objective.metric)
    if value is None:
        return None, f"the result has no {objective.metric}"
    if not math.isfinite(value):
        return None, f"{objective.metric} is {value}"
    if objective.bounds is not None and not objective.bounds[0] <= value <= objective.bounds[1]:
        lo, hi = objective.bounds
        return None, f"{objective.metric} {value:g} is outside [{lo:g}, {hi:g}]"
    for name in COUNTS:
        count = result.metrics.get(name)
        if count is not None and not (math.isfinite(count) and count >= 0):
            return None, f"{name} is {count}"
    return value, ""


def finite_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics worth storing: finite numbers only (JSON has no NaN)."""
    return {k: v for k, v in metrics.items()
            if isinstance(v, (int, float)) and math.isfinite(v)}


def store_result(archive: Archive, objective: Objective, cid: int, result: EvalResult,
                 wall_s: float) -> None:
    """Write a sandbox result; `wall_s` is the orchestrator's wait from submit to result."""
    if result.status == "ok":
        score, why = objective_score(objective, result)
        if score is None:
            archive.set_failed(cid, FailureClass.BAD_RESULT.value, why, form=result.form,
                               eval_wall_s=wall_s, log_tail=result.log_tail)
            return
        archive.set_ok(
            cid,
            form=result.form,
            score=score,
            metrics=finite_metrics(result.metrics),
            eval_wall_s=wall_s,
            log_tail=plain(result.log_tail, TEXT_CHARS) if result.log_tail else None,
        )
    else:
        known = {c.value for c in FailureClass}
        cls = result.failure_class if result.failure_class in known else (
            FailureClass.BAD_RESULT.value if result.failure_class else FailureClass.CRASH.value)
        archive.set_failed(
            cid,
            cls,
            plain(result.message or "failed", MESSAGE_CHARS),
            plain(result.traceback_tail, TEXT_CHARS) if result.traceback_tail else None,
            form=result.form,
            metrics=finite_metrics(result.metrics),
            eval_wall_s=wall_s,
            log_tail=plain(result.log_tail, TEXT_CHARS) if result.log_tail else None,
        )


def evaluate_cycle(
    res: Resources, todo: list[Candidate], idle_work: list[Callable[[], object]] | None = None
) -> None:
    """Submit every candidate at once; the executor decides how many run in parallel.

    While they train, the orchestrator does `idle_work` (the agents' preparation for the
    next step) one piece at a time between polls, instead of waiting idle.
    """
    executor, archive = res.executor, res.archive
    work = list(idle_work or [])
    pending: dict[str, tuple[int, float]] = {}
    for cand in todo:
        archive.start_eval(cand.id)
        job = res.task.job(cand.id, cand.code or "")
        pending[executor.submit(job)] = (cand.id, time.perf_counter())
    while pending:
        for handle in list(pending):
            if work:
                work.pop(0)()
            wait = 0.0 if work else (POLL_S if len(pending) > 1 else None)
            try:
                result = executor.result(handle, timeout=wait)
            except TimeoutError:
                continue
            cid, t0 = pending.pop(handle)
            store_result(archive, res.task.objective, cid, result, time.perf_counter() - t0)
    res.task.after_results(archive)
