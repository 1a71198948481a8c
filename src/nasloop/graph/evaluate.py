"""Evaluation of one cycle's candidates through the executor, recorded as each completes."""

from __future__ import annotations

import time
from collections.abc import Callable

from nasloop.config import Config
from nasloop.graph.resources import Resources
from nasloop.memory.archive import Archive, Candidate
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.job import EvalJob, EvalResult

POLL_S = 0.05


def job_for(config: Config, cand: Candidate) -> EvalJob:
    """The sandbox job of a candidate: its code plus the run's training settings."""
    t = config.train
    return EvalJob(
        candidate_id=cand.id,
        code=cand.code or "",
        dataset=config.data.dataset,
        data_dir=config.data.data_dir,
        epochs=t.epochs,
        batch_size=t.batch_size,
        lr=t.lr,
        momentum=t.momentum,
        optimizer=t.optimizer,
        seed=config.run.seed,
        max_params=t.max_params,
        time_limit_s=t.time_limit_s,
        memory_limit_mb=t.memory_limit_mb,
        threads=t.threads,
        device=t.device,
    )


def store_result(archive: Archive, cid: int, result: EvalResult, wall_s: float) -> None:
    """Write a sandbox result; `wall_s` is the orchestrator's wait from submit to result."""
    if result.status == "ok":
        archive.set_ok(
            cid,
            form=result.form,
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
        pending[executor.submit(job_for(res.config, cand))] = (cand.id, time.perf_counter())
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
            store_result(archive, cid, result, time.perf_counter() - t0)
