"""The sandbox side of the augmentation task: image classification's data preparation and
trusted scoring, with the candidate transform applied to the training batches of the fixed
reference network in the candidate's own process."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from nasloop.tasks.image_classification.runner import ImageClassificationRunner

if TYPE_CHECKING:
    from nasloop.data.split_files import CandidateData
    from nasloop.sandbox.job import EvalJob

WARM_UP = "from torchvision.transforms import v2\n\n\ndef transform():\n" \
          "    return v2.Compose([v2.RandomRotation(degrees=5), v2.RandomErasing(p=0.5)])\n"


class AugmentationRunner(ImageClassificationRunner):
    """A `TaskRunner`: predictions of the reference network trained with the candidate's
    transform, scored outside against labels the candidate's process never holds."""

    @staticmethod
    def score(job: EvalJob, raw: dict[str, Any]) -> dict[str, Any]:
        from nasloop.data.split_files import read_labels
        from nasloop.sandbox.prepared import trusted_dir
        from nasloop.tasks.augmentation.settings import AugmentSettings
        from nasloop.tasks.image_classification.scoring import score
        from nasloop.tasks.image_classification.trainer import CHECK_ONLY

        s = AugmentSettings.model_validate(job.params).train
        return score(raw, read_labels(trusted_dir(job)), s.max_params, test=s.predict_test,
                     check_only=job.op == CHECK_ONLY, audited=AugmentationRunner.audits(job))

    def preload(self) -> None:
        import torch
        import torchvision.transforms.v2  # noqa: F401
        import torchvision.transforms.v2.functional  # noqa: F401

        from nasloop.tasks.augmentation.augment import AugmentGuard, load_transform

        super().preload()
        with torch.random.fork_rng(devices=[]):
            x = torch.randn(4, 1, 8, 8)
            AugmentGuard(load_transform(WARM_UP, 1), x)(x[:2])

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]:
        return run_augmented(job, data)

    def audit(self, job: EvalJob, data: Any) -> dict[str, Any]:
        from nasloop.tasks.augmentation.settings import AugmentSettings
        from nasloop.tasks.image_classification.graph_audit import audit_graph

        return audit_graph(job, data, AugmentSettings.model_validate(job.params).train.predict_test)


def run_augmented(job: EvalJob, data: CandidateData) -> dict[str, Any]:
    """Build and dry-run the candidate transform, then train the reference network with it
    (image classification's `run_job`); EvalResult fields, never raises for the candidate.
    The validation inputs are fingerprinted before and after: a transform that changes
    them is failure `forbidden-operation`."""
    import numpy as np
    import torch

    from nasloop.sandbox.classify import classify_exception, traceback_tail
    from nasloop.sandbox.failures import FailureClass
    from nasloop.tasks.augmentation.augment import CODE_NAME, AugmentGuard, dry_run, load_transform
    from nasloop.tasks.augmentation.settings import AugmentSettings
    from nasloop.tasks.image_classification.trainer import CHECK_ONLY, run_job

    t0 = time.perf_counter()
    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    s = AugmentSettings.model_validate(job.params)
    random.seed(job.seed)
    np.random.seed(job.seed % 2**32)
    torch.manual_seed(job.seed)
    before = float(data.val_x.double().sum())
    phase = "transform"
    try:
        guard = AugmentGuard(load_transform(job.code, data.in_shape[1]), data.train_x)
        out["form"] = "batch-function" if guard.batch_fn else "transform"
        phase = "transform dry run"
        batches = -(-len(data.train_x) // s.train.batch_size) * s.train.epochs
        dry_run(guard, data.train_x, s.train.batch_size, batches, job.time_limit_s)
    except BaseException as exc:  # noqa: BLE001 - every candidate failure is classified
        cls, msg = classify_exception(exc, phase)
        out.update(failure_class=cls.value, message=msg,
                   traceback_tail=traceback_tail(exc, code_name=CODE_NAME),
                   wall_s=time.perf_counter() - t0)
        return out
    net_job = job.model_copy(update={"code": s.network, "params": s.train.model_dump()})
    if job.op == CHECK_ONLY:
        result = run_job(net_job, data)
    else:
        result = run_job(net_job, data, augment=guard, graph=True)
    result["form"] = out["form"]
    if result.get("status") == "ok" and float(data.val_x.double().sum()) != before:
        result = {**out, "failure_class": FailureClass.FORBIDDEN.value,
                  "message": "the validation inputs changed during training"}
    result["wall_s"] = time.perf_counter() - t0
    return result
