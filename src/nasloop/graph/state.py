"""The loop's state: small, JSON-serialisable, checkpointed every super-step.

Code, outputs and logs live in the archive and are referenced by id; config is not state.
"""

from __future__ import annotations

from typing import Any, TypedDict


class SearchState(TypedDict, total=False):
    run_id: str
    step: int  # index of the candidate being produced (0-based; seeds come first)
    instruction: dict[str, Any] | None  # the improver's Instruction for this step
    candidate_id: int | None  # the candidate of this step once generated
    verdict: str  # checked | invalid | novel | duplicate | evaluated
    stop_reason: str | None  # budget | wall-time | patience, once the loop ends


def initial_state(run_id: str) -> SearchState:
    return SearchState(
        run_id=run_id, step=0, instruction=None, candidate_id=None, verdict="", stop_reason=None
    )
