"""The auditor of image classification: a returned model graph's predictions and counts.

Runs in a sandboxed process forked from the data template that never held candidate code
(nasloop.sandbox.audit); the graph is data (nasloop.sandbox.modelgraph). The labels are not
here either: the predictions go back and are scored on the trusted side.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nasloop.data.split_files import CandidateData
    from nasloop.sandbox.job import EvalJob


def audit_graph(job: EvalJob, data: CandidateData, predict_test: bool,
                graph: object = None) -> dict[str, Any]:
    """EvalResult fields: the predictions of `graph` (by default the JSON in `job.code`) on
    the validation (and, with `predict_test`, test) inputs as `outputs`; its parameter count
    and forward FLOPs per sample as `reported`. A graph that cannot be rebuilt or run:
    `bad-result`."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from nasloop.sandbox.audit import audit_failure
    from nasloop.sandbox.modelgraph import BadGraph, GraphProgram
    from nasloop.sandbox.outputs import encode

    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    try:
        try:
            program = GraphProgram.load(json.loads(job.code) if graph is None else graph,
                                        job.device)
        except ValueError as err:  # json's and BadGraph's
            raise BadGraph(str(err)) from None
        if program.shape[1:] != tuple(data.in_shape[1:]):
            raise BadGraph(f"the graph takes inputs {program.shape[1:]}, the data has "
                           f"{tuple(data.in_shape[1:])}")
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            outputs = {"val": encode(_predict(program, data.val_x, data.num_classes,
                                              job.device))}
            samples = program.padded(len(data.val_x))
            if predict_test:
                outputs["test"] = encode(_predict(program, data.test_x, data.num_classes,
                                                  job.device))
                samples += program.padded(len(data.test_x))
    except BaseException as exc:  # noqa: BLE001 - the graph's own doing, never the auditor's
        return audit_failure(out, exc)
    flops = counter.get_total_flops() / samples if samples else 0.0
    out.update(status="ok", outputs=outputs,
               reported={"params": program.params, "flops": float(flops)})
    return out


def _predict(program: Any, x: Any, num_classes: int, device: str) -> np.ndarray:
    from nasloop.sandbox.modelgraph import BadGraph

    found = []
    for chunk, out in program.run_batches(x, device):
        if tuple(out.shape) != (len(chunk), num_classes):
            raise BadGraph(f"the graph's output shape {tuple(out.shape)} != "
                           f"{(len(chunk), num_classes)}")
        found.append(out.argmax(dim=1).cpu().numpy().astype(np.int64))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
