"""What the inspect commands show, as plain data (JSON-ready dicts), read from a RunView."""

from __future__ import annotations

import json
from typing import Any

from nasloop.inspect.rundir import InspectError, RunView
from nasloop.memory.archive import Candidate
from nasloop.tasks.image_classification.multidata import per_dataset

ROLES = ("improver", "generator")


def valid_rate(cands: list[Candidate]) -> float | None:
    """Share of candidates that trained (seeds included); None for an empty run."""
    return round(sum(c.status == "ok" for c in cands) / len(cands), 4) if cands else None


def run_overview(view: RunView) -> dict[str, Any]:
    """One line of `nasloop runs`: status, counts, best metric, wall time."""
    cands = view.candidates()
    summary = view.summary()
    ok = [c for c in cands if c.status == "ok"]
    objective = view.objective()
    best = min(ok, key=lambda c: (objective.sort_key(c.score), c.id), default=None)
    return {
        "path": str(view.dir),
        "run_id": view.meta("run_id"),
        "status": summary.get("status", "unknown"),
        "stop_reason": summary.get("stop_reason"),
        "budget": view.config().get("run", {}).get("budget"),
        "candidates": len(cands),
        "valid": len(ok),
        "valid_rate": valid_rate(cands),
        "failed": sum(c.status == "failed" for c in cands),
        "duplicates": sum(c.status == "duplicate" for c in cands),
        "metric": objective.metric,
        "best_metric": best.score if best else None,
        "best_candidate": best.id if best else None,
        "best_per_dataset": per_dataset(best.metrics) if best else {},  # several datasets
        "wall_s": summary.get("wall_s", view.meta("wall_s")),
        "forked_from": view.meta("forked_from"),
    }


def outcome_class(c: Candidate) -> str:
    """ok, duplicate, pending, or the failure class."""
    if c.status in ("ok", "duplicate"):
        return c.status
    return c.failure_class or c.status


def parse_instruction(response: str) -> dict[str, Any] | None:
    """The improver's structured answer (problem, modification, ...) when it is JSON."""
    try:
        data = json.loads(response)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _call_brief(call: dict[str, Any]) -> dict[str, Any]:
    keys = ("role", "model", "ok", "error", "latency_s", "tokens_in", "tokens_out")
    return {k: call[k] if k != "ok" else bool(call[k]) for k in keys}


def timeline(view: RunView, *, after_step: int = -1) -> list[dict[str, Any]]:
    """Per recorded step after `after_step`: the instruction, the triple, the candidate and
    its outcome, and the agent calls of the step. A step shows once its triple is written."""
    by_step = {c.step: c for c in view.candidates()}
    promoted: dict[int, list[dict[str, Any]]] = {}
    for p in view.promotions():
        promoted.setdefault(p.candidate_id, []).append(
            {"epochs": p.epochs, "seed": p.seed, "score": p.score, "status": p.status})
    calls: dict[int, list[dict[str, Any]]] = {}
    for call in view.agent_calls():
        calls.setdefault(call["step"], []).append(call)
    rows = []
    for t in view.triples():
        step = t["step"]
        cand = by_step.get(step)
        if step <= after_step or cand is None:
            continue
        improver = next((c for c in calls.get(step, []) if c["role"] == "improver"), None)
        instruction = parse_instruction(improver["response"]) if improver else None
        rows.append(
            {
                "step": step,
                "candidate_id": cand.id,
                "parent_id": cand.parent_id,
                "origin": cand.origin,
                "instruction": _instruction_fields(instruction),
                "triple": {k: t[k] for k in ("problem", "modification", "outcome", "delta")},
                "outcome": outcome_class(cand),
                "score": cand.score,
                "per_dataset": per_dataset(cand.metrics),  # {} unless several datasets
                "params": cand.params,
                "failure_message": _first_line(cand.failure_message),
                "duplicate_of": cand.duplicate_of,
                "calls": [_call_brief(c) for c in calls.get(step, [])],
                "promoted": promoted.get(cand.id, []),
            }
        )
    return rows


def select(
    rows: list[dict[str, Any]], *, failure: str | None = None, role: str | None = None
) -> list[dict[str, Any]]:
    """Steps whose outcome class is `failure` (ok, duplicate, shape, ...), and/or steps with
    a call of agent `role`, showing only that role's calls."""
    if role is not None and role not in ROLES:
        raise InspectError(f"unknown role {role!r}: choose {' or '.join(ROLES)}")
    out = []
    for row in rows:
        if failure is not None and row["outcome"] != failure:
            continue
        if role is not None:
            kept = [c for c in row["calls"] if c["role"] == role]
            if not kept:
                continue
            row = {**row, "calls": kept}
        out.append(row)
    return out


def _instruction_fields(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    keys = ("parent_id", "problem", "modification", "expected_effect")
    return {k: data.get(k) for k in keys if k in data}


def _first_line(text: str | None) -> str | None:
    return text.strip().splitlines()[0][:200] if text and text.strip() else None


def ancestors(by_id: dict[int, Candidate], cid: int) -> list[int]:
    """Ids from the root seed down to `cid` (inclusive)."""
    chain, seen = [cid], {cid}
    while (p := by_id[chain[-1]].parent_id) is not None and p in by_id and p not in seen:
        chain.append(p)
        seen.add(p)
    return chain[::-1]


def candidate_detail(view: RunView, cid: int) -> dict[str, Any]:
    """Everything about one candidate: code, diff, the calls that made it, log, lineage."""
    cand = view.candidate(cid)
    by_id = {c.id: c for c in view.candidates()}
    lineage = [
        {
            "id": a,
            "step": by_id[a].step,
            "modification": by_id[a].modification,
            "score": by_id[a].score,
            "outcome": outcome_class(by_id[a]),
        }
        for a in ancestors(by_id, cid)
    ]
    calls = [
        {**_call_brief(c), "prompt": c["prompt"], "response": c["response"]}
        for c in view.agent_calls(cand.step)
    ]
    return {
        **cand.model_dump(),
        "outcome": outcome_class(cand),
        "per_dataset": per_dataset(cand.metrics),
        "log_tail": view.log_tail(cid),
        "calls": calls,
        "ancestors": lineage,
        "children": sorted(c.id for c in by_id.values() if c.parent_id == cid),
        "promoted": [p.model_dump() for p in view.promotions(cid)],
    }
