"""The sandbox side of restoration: the data prepared on the trusted side (degraded inputs
for the candidate, clean validation targets kept apart), the checks and training in the
candidate's own process, and the scoring of what that process returns (trusted side)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasloop.tasks.image_classification.runner import ImageClassificationRunner
from nasloop.tasks.restoration.settings import RestorationData, RestorationSettings

if TYPE_CHECKING:
    from nasloop.sandbox.job import EvalJob

RUNNER = "nasloop.tasks.restoration.runner:RestorationRunner"


def _spec(job: EvalJob) -> RestorationData:
    return RestorationData.model_validate({k: v for k, v in job.data.items() if k != "prepared"})


class RestorationRunner:
    """A `TaskRunner`: trains image-to-image model files; the restored images are scored
    on the trusted side against clean images the candidate's process never holds."""

    # --- trusted side --------------------------------------------------------------------
    @staticmethod
    def prepare(job: EvalJob, sandbox_dir: Path, trusted_dir: Path) -> None:
        """Degrade the dataset (and train the teacher, when distilling) once per key."""
        from nasloop.tasks.restoration.data import write_files

        write_files(_spec(job), job.seed, sandbox_dir, trusted_dir)

    @staticmethod
    def read_paths(job: EvalJob) -> list[str]:
        prepared = job.data.get("prepared")
        return [prepared] if prepared else []

    @staticmethod
    def hidden_paths(job: EvalJob) -> list[str]:
        """Every copy of the clean images: the prepared cache, the datasets' own files and
        a user teacher file."""
        from nasloop.tasks.image_classification.settings import DataSpec

        spec = _spec(job)
        fields = DataSpec.model_fields
        as_ic = job.model_copy(update={"data": {k: v for k, v in job.data.items()
                                                if k in fields}})
        hidden = ImageClassificationRunner.hidden_paths(as_ic)
        if spec.distill and spec.teacher != "builtin":
            hidden.append(str(Path(spec.teacher).expanduser()))
        return hidden

    @staticmethod
    def score(job: EvalJob, raw: dict[str, Any]) -> dict[str, Any]:
        from nasloop.sandbox.prepared import trusted_dir
        from nasloop.tasks.restoration.data import read_targets, read_teacher
        from nasloop.tasks.restoration.scoring import score
        from nasloop.tasks.restoration.trainer import CHECK_ONLY

        where = trusted_dir(job)
        return score(raw, read_targets(where), RestorationSettings.model_validate(job.params),
                     read_teacher(where), check_only=job.op == CHECK_ONLY,
                     audited=RestorationRunner.audits(job))

    # --- sandbox side --------------------------------------------------------------------
    def preload(self) -> None:
        from nasloop.tasks.restoration import trainer

        trainer.preload()

    def data_key(self, job: EvalJob) -> tuple[Any, ...]:
        return (job.data.get("prepared"),)

    def load(self, job: EvalJob) -> Any:
        from nasloop.tasks.restoration.data import read_inputs

        return read_inputs(job.data["prepared"])

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.tasks.restoration.trainer import run_job

        return run_job(job, data, graph=self.audits(job))

    # trained models come back as graphs, run, counted and timed by an auditor; the same
    # jobs as image classification's (all but the check before training)
    audits = staticmethod(ImageClassificationRunner.audits)

    def audit(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.tasks.restoration.graph_audit import audit_graphs

        return audit_graphs(job, data)
