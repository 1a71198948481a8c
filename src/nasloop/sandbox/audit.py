"""The audit step: a candidate's trained model, returned as data, is run and counted by a
second sandboxed process that never holds candidate code.

A runner that audits (`audits(job)` true) has its candidate's process return the model
graph under `GRAPH_FIELD` instead of predictions. The worker then hands that graph to a fresh
process forked from the same data template, as a job with op `AUDIT_OP` whose `code` is the
graph's JSON (data, never executed), its tensors' bytes in the file of tensors the worker
passes to both processes (nasloop.sandbox.tensorfile); the runner's `audit(job, data)`
predicts with it and counts it. `merge` builds the one result the trusted side scores: the
candidate's status, timings and messages, and outputs and counts from the audit only. A
runner whose results nest (one per dataset) has its own `take_graph` and `merge`.
"""

from __future__ import annotations

import json
from typing import Any

from nasloop.sandbox.failures import FailureClass

GRAPH_FIELD = "graph"  # the candidate's result field that carries its recorded model
AUDIT_OP = "audit"  # EvalJob.op of the auditor's job
FROM_AUDIT = ("outputs", "reported")  # result fields only the audit may fill
AUDIT_S = "audit_s"  # the result field with the audit's time, set by the worker (EvalResult)


def audit_job(job: Any, graph: object) -> Any:
    """The auditor's job: `job` with op AUDIT_OP and the graph (as JSON) for code."""
    return job.model_copy(update={"op": AUDIT_OP, "code": json.dumps(graph)})


def take_graph(result: dict[str, Any]) -> object:
    """Remove and return what the candidate sent as its graph, and drop anything it sent
    in the fields only the audit fills."""
    for field in FROM_AUDIT:
        result.pop(field, None)
    return result.pop(GRAPH_FIELD, None)


def merge(candidate: dict[str, Any], audited: dict[str, Any]) -> dict[str, Any]:
    """The candidate's result with the audit's outputs and counts; an audit that failed
    makes it a failure (the audit's class, `bad-result` for a graph that cannot be run)."""
    out = dict(candidate)
    if audited.get("status") != "ok":
        cls = audited.get("failure_class") or FailureClass.BAD_RESULT.value
        msg = audited.get("message") or "the audit of the returned model failed"
        out.update(status="failed", failure_class=cls,
                   message=f"the returned model, run outside its process: {msg}")
        return out
    for field in FROM_AUDIT:
        if field in audited:
            out[field] = audited[field]
    return out


def audit_failure(out: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """`out` as an auditor's failure: a graph that cannot be rebuilt or run (`BadGraph`) is
    `bad-result`; anything else (memory, a forbidden operator) is classified as usual."""
    from nasloop.sandbox.classify import classify_exception
    from nasloop.sandbox.modelgraph import BadGraph

    if isinstance(exc, BadGraph):
        return {**out, "failure_class": FailureClass.BAD_RESULT.value, "message": str(exc)}
    cls, msg = classify_exception(exc, "audit")
    return {**out, "failure_class": cls.value, "message": msg}


def no_graph(candidate: dict[str, Any]) -> dict[str, Any]:
    """The result of a candidate whose process said "ok" without a model graph."""
    return {**candidate, "status": "failed", "failure_class": FailureClass.BAD_RESULT.value,
            "message": "no model graph came back to score"}
