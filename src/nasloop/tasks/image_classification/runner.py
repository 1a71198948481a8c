"""The sandbox side of image classification: what the worker preloads, the data it holds,
and the training run of one model file in the candidate's own process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nasloop.tasks.image_classification.settings import DataSpec

if TYPE_CHECKING:
    from nasloop.sandbox.job import EvalJob


class ImageClassificationRunner:
    """A `TaskRunner`: trains and validates LEMUR-form or bare model files."""

    def preload(self) -> None:
        from nasloop.tasks.image_classification import trainer

        trainer.preload()

    def data_key(self, job: EvalJob) -> tuple[Any, ...]:
        spec = DataSpec.model_validate(job.data)
        return (spec.dataset, spec.data_dir, spec.channels, spec.image_size, job.seed)

    def load(self, job: EvalJob) -> Any:
        from nasloop.data.loaders import load_dataset

        spec = DataSpec.model_validate(job.data)
        return load_dataset(spec.dataset, spec.data_dir, job.seed, channels=spec.channels,
                            size=spec.image_size)

    @staticmethod
    def read_paths(job: EvalJob) -> list[str]:
        """Host paths the job reads: the data dir, an image folder."""
        spec = DataSpec.model_validate(job.data)
        paths = [spec.data_dir] if spec.data_dir else []
        if spec.dataset.lower().startswith("imagefolder:"):
            paths.append(spec.dataset.split(":", 1)[1])
        return paths

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.tasks.image_classification.trainer import run_job

        return run_job(job, data)
