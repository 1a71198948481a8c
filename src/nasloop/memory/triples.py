"""Diagnostic triples (problem, modification, outcome) and the last-K window both agents see."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from nasloop.tasks.base import Objective


class Triple(BaseModel):
    """One improvement attempt: what was seen, what was done, what came of it."""

    step: int
    candidate_id: int | None
    problem: str  # what the improver saw: error class + message, or the metric gap
    modification: str  # what was asked/done: free text or a typed mutation's description
    outcome: str  # metric delta, or failure class
    delta: float | None = None  # gain against the parent (positive: better), when both trained
    failure_class: str | None = None  # when the candidate did not train

    def render(self) -> str:
        """One line for prompts and traces."""
        return (
            f"problem: {self.problem} | modification: {self.modification} | outcome: {self.outcome}"
        )


def window(triples: list[Triple], k: int) -> list[Triple]:
    """The last `k` triples, oldest first (k == 0 shows none)."""
    return triples[-k:] if k > 0 else []


def describe_outcome(
    objective: Objective,
    metric: float | None,
    parent_metric: float | None,
    failure_class: str | None,
    message: str | None,
) -> tuple[str, float | None]:
    """Outcome text and gain (positive: better) of a candidate against its parent."""
    if failure_class is not None:
        short = (message or "").splitlines()[0][:160] if message else ""
        return (f"failed: {failure_class}" + (f" ({short})" if short else "")), None
    if metric is None:
        return "no metric", None
    if parent_metric is None:
        return objective.describe(metric), None
    delta = objective.gain(metric, parent_metric)
    return f"{objective.describe(metric)} ({delta:+.{objective.digits}f} vs parent)", delta
