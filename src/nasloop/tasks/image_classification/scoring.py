"""The trusted side of image classification: what a candidate's predictions score.

Runs outside the sandbox, on the labels the candidate never saw. What comes back is
validated before it is believed: the predictions (one integer class per input, in range)
and the counts. An audited result (nasloop.sandbox.audit) has its predictions, parameter
count and FLOPs from the auditor that ran the returned model graph; otherwise (several
datasets in one job) they are the candidate process's: its predictions and weight shapes.
Timings are reported by the candidate's process and kept as they are (finite values only).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.outputs import BadOutputs, decode

REPORTED = ("flops", "train_s", "epochs", "check_s", "peak_mem_mb")


class BadResult(Exception):
    """What came back cannot be believed; the message says why, in one line."""


def predictions(raw: dict[str, Any], split: str, n: int, classes: int) -> np.ndarray:
    """The validated predictions of `split`: n integers in [0, classes)."""
    outputs = raw.get("outputs")
    encoded = outputs.get(split) if isinstance(outputs, dict) else None
    if encoded is None:
        raise BadResult(f"no predictions for the {split} split")
    try:
        preds = decode(encoded)
    except BadOutputs as err:
        raise BadResult(str(err)) from None
    if preds.shape != (n,):
        raise BadResult(f"{split} predictions have shape {preds.shape}, not ({n},)")
    if preds.dtype.kind == "f":
        if not np.isfinite(preds).all() or not np.equal(np.mod(preds, 1), 0).all():
            raise BadResult(f"{split} predictions are not whole class numbers")
        preds = preds.astype(np.int64)
    if len(preds) and (preds.min() < 0 or preds.max() >= classes):
        raise BadResult(f"{split} predictions outside the classes 0..{classes - 1}")
    return preds


def param_count(raw: dict[str, Any]) -> int:
    """The parameter count from the reported weight shapes."""
    reported = raw.get("reported")
    shapes = reported.get("weights") if isinstance(reported, dict) else None
    if not isinstance(shapes, list) or not all(
            isinstance(s, list) and all(isinstance(d, int) and d >= 0 for d in s)
            for s in shapes):
        raise BadResult("no usable weight shapes reported")
    return int(sum(math.prod(s) for s in shapes))


def audited_counts(raw: dict[str, Any]) -> tuple[int, float]:
    """(params, FLOPs per sample) the auditor counted."""
    reported = raw.get("reported")
    params = reported.get("params") if isinstance(reported, dict) else None
    flops = reported.get("flops") if isinstance(reported, dict) else None
    if type(params) is not int or params < 0 or not isinstance(flops, (int, float)) or \
            not math.isfinite(flops) or flops < 0:
        raise BadResult("no counts from the audit of the model")
    return params, float(flops)


def score(raw: dict[str, Any], labels: dict[str, np.ndarray], max_params: int,
          test: bool = False, check_only: bool = False, audited: bool = False
          ) -> dict[str, Any]:
    """The result with trusted metrics: val_accuracy (and test_accuracy when asked) from the
    labels, params (over `max_params`: failure `params`) and, when `audited`, FLOPs from
    the audit (else params from the weight shapes); a `check_only` job scores no
    predictions."""
    out = {k: v for k, v in raw.items() if k not in ("outputs", "reported", "metrics")}
    metrics_in = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    reported = {k: float(v) for k, v in metrics_in.items()
                if k in REPORTED and isinstance(v, (int, float)) and math.isfinite(v)}
    if raw.get("status") != "ok":
        return {**out, "metrics": reported}
    classes = int(labels["num_classes"])
    try:
        if audited:
            params, flops = audited_counts(raw)
            reported["flops"] = flops
        else:
            params = param_count(raw)
        metrics: dict[str, float] = {**reported, "params": float(params)}
        if params > max_params:
            return {**out, "status": "failed", "failure_class": FailureClass.PARAMS.value,
                    "message": f"{params} parameters > cap {max_params}", "metrics": metrics}
        if not check_only:
            val = predictions(raw, "val", len(labels["val"]), classes)
            metrics["val_accuracy"] = float(np.mean(val == labels["val"])) if len(val) else 0.0
            if test:
                preds = predictions(raw, "test", len(labels["test"]), classes)
                metrics["test_accuracy"] = float(np.mean(preds == labels["test"]))
    except BadResult as err:
        return {**out, "status": "failed", "failure_class": FailureClass.BAD_RESULT.value,
                "message": str(err), "metrics": reported}
    return {**out, "metrics": metrics}


def run_in_process(job: Any, splits: Any) -> dict[str, Any]:
    """Train `job` in THIS process on in-memory splits and score it (trusted code only:
    tests, benches; candidates run in the sandbox)."""
    from nasloop.data.split_files import candidate_view
    from nasloop.sandbox import audit
    from nasloop.tasks.image_classification.graph_audit import audit_graph
    from nasloop.tasks.image_classification.settings import TrainSettings
    from nasloop.tasks.image_classification.trainer import CHECK_ONLY, run_job

    s = TrainSettings.model_validate(job.params)
    check_only = job.op == CHECK_ONLY
    data = candidate_view(splits)
    raw = run_job(job, data, graph=not check_only)
    if not check_only:
        graph = audit.take_graph(raw)
        if raw.get("status") == "ok":
            t0 = time.perf_counter()
            raw = audit.merge(raw, audit_graph(audit.audit_job(job, graph), data,
                                               s.predict_test))
            raw[audit.AUDIT_S] = time.perf_counter() - t0  # as the worker times its hop
    labels = {"val": splits.val_y.numpy(), "test": splits.test_y.numpy(),
              "num_classes": np.array(splits.num_classes)}
    return score(raw, labels, s.max_params, test=s.predict_test, check_only=check_only,
                 audited=not check_only)
