"""The loop's state: small, JSON-serialisable, checkpointed every super-step.

Code, outputs and logs live in the archive and are referenced by id; config is not state.
A cycle works on the consecutive steps `step .. step + len(candidates) - 1`, one candidate
each (one step per cycle unless `run.batch` > 1).
"""

from __future__ import annotations

from typing import Any, TypedDict


class SearchState(TypedDict, total=False):
    run_id: str
    step: int  # first step of the current cycle (0-based; seeds come first)
    size: int  # candidates in the current cycle
    instructions: list[dict[str, Any]]  # the improver's Instructions for the next cycle
    candidates: list[int]  # candidate ids of the current cycle, in step order
    verdict: str  # checked | invalid | novel | duplicate | evaluated (any of the cycle)
    stop_reason: str | None  # budget | wall-time | patience, once the loop ends


def initial_state(run_id: str) -> SearchState:
    return SearchState(
        run_id=run_id,
        step=0,
        size=0,
        instructions=[],
        candidates=[],
        verdict="",
        stop_reason=None,
    )
