"""Resources the nodes use: live objects opened for one process, never checkpointed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasloop.agents.base import CodeGenerator, PromptImprover
from nasloop.config import Config
from nasloop.memory.archive import Archive, Candidate
from nasloop.memory.novelty import NoveltyIndex
from nasloop.sandbox.executor import Executor
from nasloop.tasks.base import Task, TaskBrief


@dataclass
class Resources:
    config: Config
    run_dir: Path
    archive: Archive
    executor: Executor
    improver: PromptImprover
    generator: CodeGenerator
    novelty: NoveltyIndex
    seeds: list[tuple[str, str]]  # (name, code), evaluated first, in this order
    task: Task
    brief: TaskBrief  # what the agents are told about the task
    on_candidate: Callable[[Candidate, int], None] = lambda cand, step: None
    cycles: Any = None  # FinetuneCycles when [finetune] is on (holds the generator's model)
    strategy: Any = None  # a search strategy of the user's own ([search] strategy = "m:C")
    view: Any = None  # the run's read-only RunView, for what reads the whole archive
    wall_before_s: float = 0.0  # wall time of earlier sessions of this run
    started: float = field(default_factory=time.monotonic)

    def wall_s(self) -> float:
        """Wall time of the run so far, across resumes."""
        return self.wall_before_s + (time.monotonic() - self.started)
