"""What the orchestrator sends to a sandbox and what comes back (both JSON-serialisable).

A job names the task runner that evaluates it (`runner`, an import path the worker is
started with); `data` says which data the runner loads (with `seed`, its cache key) and
`params` carries the task's own settings. The limits are the sandbox's, the same for
every task.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class EvalJob(BaseModel):
    """One candidate to evaluate. Everything the sandbox needs, nothing of the run."""

    candidate_id: int
    code: str
    runner: str  # "module:Class" of the task's TaskRunner
    op: str = "evaluate"  # what the runner does with the code (runner-defined)
    seed: int = 0
    data: dict[str, Any] = Field(default_factory=dict)  # the data the runner loads
    params: dict[str, Any] = Field(default_factory=dict)  # the task's settings
    time_limit_s: float = 120.0  # wall-clock budget for check + training + validation
    memory_limit_mb: int = 6144  # address-space limit of the candidate process
    threads: int = 1  # CPU threads (and CPUs) the candidate may use
    tmp_mb: int = 256  # its private /tmp (and a quarter of it for /dev/shm), in RAM
    device: str = "cpu"


class EvalResult(BaseModel):
    """Outcome of one job: `status == "ok"` comes with the task's metrics."""

    candidate_id: int
    status: Literal["ok", "failed"]
    form: str | None = None  # the candidate's contract form, as the task names it
    failure_class: str | None = None  # a FailureClass value when failed
    message: str | None = None  # one short line
    traceback_tail: str | None = None  # last lines of the candidate's own traceback
    metrics: dict[str, float] = Field(default_factory=dict)
    wall_s: float = 0.0  # total time inside the sandbox for this job
    audit_s: float | None = None  # of which the audit hop, on the worker's clock (None: none)
    log_tail: str | None = None  # last lines of the candidate's stdout/stderr
    # What the candidate's process returned, for the trusted side to score: arrays as base64
    # .npy by name (predictions, restored images) and other reported values (weight shapes).
    # The runner's `score` consumes them outside the sandbox; they are never stored.
    outputs: dict[str, str] | None = None
    reported: dict[str, Any] | None = None
