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

POLL_S = 0.05


def objective_score(objective: Objective, result: EvalResult) -> tuple[float | None, str]:
    """The objective's value in an "ok" result, or None and why it cannot be believed."""
    value = result.metrics.get(objective.metric)
    if value is None:
        return None, f"the result has no {objective.metric}"
    if not math.isfinite(value):
        return None, f"{objective.metric} is {value}"
    return value, ""


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
            metrics=result.metrics,
            eval_wall_s=wall_s,
            log_tail=result.log_tail,
        )
    else:
        archive.set_failed(
            cid,
            result.failure_class or FailureClass.CRASH.value,
            result.message or "failed",
            result.traceback_tail,
            form=result.form,
            metrics=result.metrics,
            eval_wall_s=wall_s,
            log_tail=result.log_tail,
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
