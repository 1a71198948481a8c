"""The trusted side of restoration: what a candidate's restored images score.

Runs outside the sandbox against the clean validation images the candidate never saw. The
restored images are validated (present, the clean images' shape, floating point, finite)
and clipped to [0, 1] (what a display shows) before PSNR and SSIM. An audited result
(nasloop.sandbox.audit) has its images, parameter count, FLOPs and CPU latency from the
auditor that ran the returned model graphs; a check-only one its parameter count from the
reported weight shapes and its latency as the candidate's process measured it. Both caps
are checked here again.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.outputs import BadOutputs, bytes_for, decode
from nasloop.tasks.image_classification.scoring import BadResult, audited_counts, param_count
from nasloop.tasks.restoration.metrics import psnr, ssim
from nasloop.tasks.restoration.settings import RestorationSettings

REPORTED = ("latency_ms", "train_s", "epochs", "check_s")


def restored_images(raw: dict[str, Any], shape: tuple[int, ...]) -> np.ndarray:
    """The validated restored validation images, clipped to [0, 1]."""
    outputs = raw.get("outputs")
    encoded = outputs.get("val") if isinstance(outputs, dict) else None
    if encoded is None:
        raise BadResult("no restored images for the val split")
    try:  # capped by the clean images' size, not MAX_BYTES: CIFAR-10's 5000 are 61 MB
        images = decode(encoded, bytes_for(math.prod(shape)))
    except BadOutputs as err:
        raise BadResult(str(err)) from None
    if images.shape != shape:
        raise BadResult(f"restored images have shape {images.shape}, not {shape}")
    if images.dtype.kind != "f":
        raise BadResult(f"restored images are {images.dtype}, not floating point")
    if not np.isfinite(images).all():
        raise BadResult("restored images hold NaN or inf")
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def audited_latency(raw: dict[str, Any]) -> float:
    """The CPU latency (ms) the auditor measured."""
    reported = raw.get("reported")
    lat = reported.get("latency_ms") if isinstance(reported, dict) else None
    if not isinstance(lat, (int, float)) or not math.isfinite(lat) or lat < 0:
        raise BadResult("no latency from the audit of the model")
    return float(lat)


def score(raw: dict[str, Any], clean: np.ndarray, settings: RestorationSettings,
          teacher: dict[str, Any] | None = None, check_only: bool = False,
          audited: bool = False) -> dict[str, Any]:
    """The result with trusted metrics: val_psnr (the score), val_ssim, params (and, when
    `audited`, FLOPs and latency from the audit); with a teacher, its PSNR and the share of
    it the candidate keeps (`psnr_retained`)."""
    out = {k: v for k, v in raw.items() if k not in ("outputs", "reported", "metrics")}
    metrics_in = raw.get("metrics") if isinstance(raw.get("metrics"), dict) else {}
    reported = {k: float(v) for k, v in metrics_in.items()
                if k in REPORTED and isinstance(v, (int, float)) and math.isfinite(v)}
    if raw.get("status") != "ok":
        return {**out, "metrics": reported}
    try:
        if audited:
            params, reported["flops"] = audited_counts(raw)
            reported["latency_ms"] = audited_latency(raw)
        else:
            params = param_count(raw)
        metrics: dict[str, float] = {**reported, "params": float(params)}
        if params > settings.max_params:
            return {**out, "status": "failed", "failure_class": FailureClass.PARAMS.value,
                    "message": f"{params} parameters > cap {settings.max_params}",
                    "metrics": metrics}
        lat = metrics.get("latency_ms")
        if lat is None:
            raise BadResult("no latency reported")
        if settings.max_latency_ms is not None and lat > settings.max_latency_ms:
            return {**out, "status": "failed", "failure_class": FailureClass.TIMEOUT.value,
                    "message": f"CPU latency {lat:.3f} ms > cap {settings.max_latency_ms:g} ms",
                    "metrics": metrics}
        if not check_only:
            images = restored_images(raw, clean.shape)
            metrics["val_psnr"] = psnr(images, clean)
            metrics["val_ssim"] = ssim(images, clean)
            if teacher is not None:
                metrics["teacher_psnr"] = float(teacher["val_psnr"])
                metrics["psnr_retained"] = metrics["val_psnr"] / float(teacher["val_psnr"])
    except BadResult as err:
        return {**out, "status": "failed", "failure_class": FailureClass.BAD_RESULT.value,
                "message": str(err), "metrics": reported}
    return {**out, "metrics": metrics}
