"""Bookkeeping shared by the executors: submitted jobs by handle, their results, waiting."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from nasloop.sandbox.job import EvalJob, EvalResult


@dataclass
class Pending:
    """One submitted job; executors subclass it with where the job runs."""

    job: EvalJob
    done: threading.Event = field(default_factory=threading.Event)
    result: EvalResult | None = None


class PendingJobs:
    """Jobs by handle: `finish` records the first result of a job, `result` waits for it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, Any] = {}

    def finish(self, handle: str, result: EvalResult) -> None:
        with self.lock:
            pending = self.pending.get(handle)
            if pending is None or pending.done.is_set():
                return
            pending.result = result
            pending.done.set()

    def result(self, handle: str, timeout: float | None = None) -> EvalResult:
        """Block until the job is done; TimeoutError after `timeout` s (the job keeps running)."""
        pending = self.pending[handle]
        if not pending.done.wait(timeout):
            raise TimeoutError(f"job {handle} still running after {timeout} s")
        assert pending.result is not None
        return pending.result
