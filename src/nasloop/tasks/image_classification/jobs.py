"""Image-classification sandbox jobs built directly (for scripts, benches and tests that
evaluate a file without a run's config; a run builds its jobs through the task)."""

from __future__ import annotations

from typing import Any

from nasloop.sandbox.job import EvalJob
from nasloop.tasks.image_classification.settings import DataSpec, TrainSettings

RUNNER = "nasloop.tasks.image_classification.runner:ImageClassificationRunner"


def eval_job(code: str, candidate_id: int = 0, *, dataset: str = "digits",
             data_dir: str | None = None, seed: int = 0, **fields: Any) -> EvalJob:
    """A job that trains `code`; `fields` are TrainSettings (epochs, lr, max_params, ...) or
    EvalJob limits (time_limit_s, memory_limit_mb, threads, device)."""
    train = {k: fields.pop(k) for k in list(fields) if k in TrainSettings.model_fields}
    return EvalJob(candidate_id=candidate_id, code=code, runner=RUNNER, seed=seed,
                   data=DataSpec(dataset=dataset, data_dir=data_dir).model_dump(),
                   params=TrainSettings(**train).model_dump(), **fields)
