"""The sandbox side of image classification: the data it prepares on the trusted side,
what the worker preloads and holds, the training run in the candidate's own process, and
the scoring of what that process returns (trusted side again)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasloop.tasks.image_classification.settings import DataSpec, TrainSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from nasloop.sandbox.job import EvalJob


def sklearn_data() -> list[str]:
    """scikit-learn's bundled datasets (digits among them): hidden from candidates."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "datasets"
    return [str(root / "data"), str(root / "images"), str(root / "descr")]


def image_folder(dataset: str) -> Path | None:
    """The folder (absolute) an image-folder dataset reads: `imagefolder:PATH`, or a plain
    directory that is not a table name (the table reads both as the same folder)."""
    from nasloop.data.table import DATASETS, FOLDER_PREFIX

    if dataset.lower().startswith(FOLDER_PREFIX):
        return Path(dataset.split(":", 1)[1]).expanduser().resolve()
    if dataset.lower() not in DATASETS and Path(dataset).expanduser().is_dir():
        return Path(dataset).expanduser().resolve()
    return None


class ImageClassificationRunner:
    """A `TaskRunner`: trains LEMUR-form or bare model files; predictions are scored on the
    trusted side against labels the candidate's process never holds."""

    # --- trusted side (the host, outside the sandbox) ---------------------------------------
    @staticmethod
    def prepare(job: EvalJob, sandbox_dir: Path, trusted_dir: Path) -> None:
        """Load the dataset once and split it into what the candidate may see and the
        labels (runs in a trusted subprocess; see nasloop.sandbox.prepared)."""
        from nasloop.data.loaders import load_dataset
        from nasloop.data.split_files import write_split_files

        spec = DataSpec.model_validate({k: v for k, v in job.data.items() if k != "prepared"})
        split_seed = job.seed if spec.split_seed is None else spec.split_seed
        splits = load_dataset(spec.dataset, spec.data_dir, split_seed, channels=spec.channels,
                              size=spec.image_size)
        write_split_files(splits, sandbox_dir, trusted_dir)

    @staticmethod
    def read_paths(job: EvalJob) -> list[str]:
        """Host paths the sandbox must see: the prepared candidate data only."""
        prepared = job.data.get("prepared")
        return [prepared] if prepared else []

    @staticmethod
    def hidden_paths(job: EvalJob) -> list[str]:
        """Host paths the sandbox must not see: every copy of the labels."""
        from nasloop.sandbox.prepared import cache_root

        spec = DataSpec.model_validate({k: v for k, v in job.data.items() if k != "prepared"})
        from nasloop.data.loaders import DEFAULT_DATA_DIR

        hidden = [str(cache_root()), *sklearn_data(), str(Path(DEFAULT_DATA_DIR).expanduser())]
        if spec.data_dir:
            hidden.append(str(Path(spec.data_dir).expanduser().resolve()))
        folder = image_folder(spec.dataset)
        if folder is not None:
            hidden.append(str(folder))
        return hidden

    @staticmethod
    def score(job: EvalJob, raw: dict[str, Any]) -> dict[str, Any]:
        """What the candidate's process returned, scored against the hidden labels."""
        from nasloop.data.split_files import read_labels
        from nasloop.sandbox.prepared import trusted_dir
        from nasloop.tasks.image_classification.scoring import score
        from nasloop.tasks.image_classification.trainer import CHECK_ONLY

        s = TrainSettings.model_validate(job.params)
        return score(raw, read_labels(trusted_dir(job)), s.max_params, test=s.predict_test,
                     check_only=job.op == CHECK_ONLY,
                     audited=ImageClassificationRunner.audits(job))

    # --- sandbox side (the worker and the candidate's process) ------------------------------
    def preload(self) -> None:
        from nasloop.tasks.image_classification import trainer, warm

        trainer.preload()
        warm.preload()
        try:  # torchvision loads its C++ ops with ctypes, which the armed audit hook refuses
            import torchvision  # noqa: F401
            import torchvision.models  # noqa: F401
            import torchvision.ops  # noqa: F401
        except ImportError:  # candidates that import it then fail with their own reason
            pass

    def warm(self, data: Any, waiting: Callable[[], bool]) -> None:
        """Trusted warm-up of a waiting candidate process (see `warm.warm_process`)."""
        from nasloop.tasks.image_classification.warm import warm_process

        warm_process(data, waiting)

    def warm_audit(self, data: Any, waiting: Callable[[], bool]) -> None:
        """Trusted warm-up of a waiting auditor's process (see `warm.warm_auditor`)."""
        from nasloop.tasks.image_classification.warm import warm_auditor

        warm_auditor(waiting)

    def data_key(self, job: EvalJob) -> tuple[Any, ...]:
        return (job.data.get("prepared"),)

    def load(self, job: EvalJob) -> Any:
        from nasloop.data.split_files import read_candidate_data

        return read_candidate_data(job.data["prepared"])

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.tasks.image_classification.trainer import run_job

        return run_job(job, data, graph=self.audits(job))

    @staticmethod
    def audits(job: EvalJob) -> bool:
        """Trained models come back as graphs, predicted with and counted by an auditor
        (nasloop.sandbox.audit); a check-only job trains nothing and scores nothing."""
        from nasloop.tasks.image_classification.trainer import CHECK_ONLY

        return job.op != CHECK_ONLY

    def audit(self, job: EvalJob, data: Any) -> dict[str, Any]:
        """The auditor's side: the returned graph's predictions and counts."""
        from nasloop.tasks.image_classification.graph_audit import audit_graph

        return audit_graph(job, data, TrainSettings.model_validate(job.params).predict_test)
