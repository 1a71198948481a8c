"""What the orchestrator sends to a sandbox and what comes back (both JSON-serialisable)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class EvalJob(BaseModel):
    """One candidate to check and train. Everything the sandbox needs, nothing of the run."""

    candidate_id: int
    code: str
    dataset: str = "digits"
    data_dir: str | None = None
    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # bare form only
    seed: int = 0
    max_params: int = 2_000_000
    time_limit_s: float = 120.0  # wall-clock budget for check + training + validation
    memory_limit_mb: int = 6144  # address-space limit of the candidate process
    threads: int = 1  # torch intra-op threads inside the candidate
    device: str = "cpu"


class EvalResult(BaseModel):
    """Outcome of one job. `status == "ok"` means `metrics["val_accuracy"]` is present."""

    candidate_id: int
    status: Literal["ok", "failed"]
    form: Literal["lemur", "bare"] | None = None
    failure_class: str | None = None  # a FailureClass value when failed
    message: str | None = None  # one short line
    traceback_tail: str | None = None  # last lines of the candidate's own traceback
    metrics: dict[str, float] = Field(default_factory=dict)
    # val_accuracy, params, flops, train_s, epochs, peak_mem_mb, check_s
    wall_s: float = 0.0  # total time inside the sandbox for this job
    log_tail: str | None = None  # last lines of the candidate's stdout/stderr
