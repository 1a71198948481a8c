"""The better-than ask: the heuristic improver's choice of parent, asked the way the
better-than fine-tuning pairs ask ("this transform reached x; write a different one that
reaches more"), so a generator tuned on those pairs is prompted as it was trained.

Used with `[task] ask = "better-than"` and a language-model generator (the paper's loop:
the model proposes a whole new transform, the measured accuracy is the only feedback).
"""

from __future__ import annotations

from nasloop.agents.base import ImproveRequest, ImproveResult
from nasloop.agents.heuristic import HeuristicImprover
from nasloop.tasks.augmentation.pairs import better_than_ask


class BetterThanImprover(HeuristicImprover):
    """Picks the parent as the heuristic improver does; asks for a better transform."""

    def improve(self, request: ImproveRequest) -> ImproveResult:
        result = super().improve(request)
        ins = result.instruction
        if ins is None:
            return result
        parent = next((p for p in [*request.parents, *request.over_cap]
                       if p.id == ins.parent_id), None)
        if parent is None or parent.score is None:  # nothing to beat yet: keep the mutation
            return result
        ask = better_than_ask(parent.score, request.task.objective.metric, parent.id)
        return result.model_copy(update={"instruction": ask})
