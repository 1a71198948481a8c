"""The auditor of restoration: a returned model's restored images, counts and CPU latency.

Runs in a sandboxed process that never held candidate code (nasloop.sandbox.audit). The
candidate's process recorded its trained model twice (nasloop.sandbox.modelgraph): on
validation inputs, and on one image at the latency resolution. The two must be the same
model (`same_model`, and no fewer FLOPs per pixel at the latency resolution); the first
restores the validation inputs and has its operators checked against the allow-list, the
second is timed. The clean images are not here: the
restored ones go back and are scored on the trusted side.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.restoration.data import RestorationInputs

FLOPS_SLACK = 0.9  # the latency recording may count this share of the scored one's per pixel


def audit_graphs(job: EvalJob, data: RestorationInputs) -> dict[str, Any]:
    """EvalResult fields: the restored validation images as `outputs`; the parameter count,
    forward FLOPs per image and the median CPU latency (ms) at the latency resolution as
    `reported`. Recordings that cannot be run or are not of one model: `bad-result`."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nasloop.sandbox.audit import audit_failure
    from nasloop.sandbox.modelgraph import BadGraph, GraphProgram, same_model
    from nasloop.sandbox.outputs import encode
    from nasloop.tasks.restoration.hardware import check_recorded, median_ms
    from nasloop.tasks.restoration.settings import RestorationSettings

    s = RestorationSettings.model_validate(job.params)
    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    try:
        try:
            graphs = json.loads(job.code)
        except ValueError as err:
            raise BadGraph(str(err)) from None
        if not isinstance(graphs, dict) or set(graphs) != {"val", "latency"}:
            raise BadGraph("the model is not recorded once for validation and once for latency")
        same_model(graphs["val"], graphs["latency"])
        val = GraphProgram.load(graphs["val"], job.device)
        lat = GraphProgram.load(graphs["latency"], "cpu")
        check_recorded(graphs["val"], val.stored_shape, s)
        side = s.latency_size
        if val.shape[1:] != tuple(data.in_shape[1:]) or \
                lat.shape != (1, data.in_shape[1], side, side):
            raise BadGraph(f"the recordings take {val.shape} and {lat.shape}, not the data's "
                           f"images and one {side}x{side} image")
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            images = _restore(val, data.val_x, job.device)
        padded = val.padded(len(data.val_x))
        flops = counter.get_total_flops() / padded if padded else 0.0
        x = torch.rand(1, data.in_shape[1], side, side)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            shape = tuple(lat.run(x).shape)
        if shape != tuple(x.shape):
            raise BadGraph(f"at the latency resolution the output is {shape}, not "
                           f"{tuple(x.shape)}")
        per_pixel = flops / (val.shape[2] * val.shape[3])
        if counter.get_total_flops() < FLOPS_SLACK * per_pixel * side * side:
            raise BadGraph("the latency recording computes less per pixel than the scored one")
        latency, _ = median_ms(lat.run, x)
    except BaseException as exc:  # noqa: BLE001 - the graph's own doing, never the auditor's
        return audit_failure(out, exc)
    out.update(status="ok", outputs={"val": encode(images)},
               reported={"params": val.params, "flops": float(flops), "latency_ms": latency})
    return out


def _restore(program: Any, x: Any, device: str) -> np.ndarray:
    from nasloop.sandbox.modelgraph import BadGraph

    found = []
    for chunk, out in program.run_batches(x, device):
        if tuple(out.shape) != tuple(chunk.shape):
            raise BadGraph(f"the graph's output shape {tuple(out.shape)} != input shape "
                           f"{tuple(chunk.shape)}")
        found.append(out.float().cpu().numpy())
    return np.concatenate(found) if found else np.zeros((0, *x.shape[1:]), np.float32)

