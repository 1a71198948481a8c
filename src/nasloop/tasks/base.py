"""The task seam: what a search task provides to the loop (orchestrator side, no torch).

A task is one folder under `nasloop/tasks/` with a `Task` subclass registered by kind in
`nasloop.tasks.registry`. The orchestrator side (this module's `Task`) describes the
task to the agents, checks candidates statically, finds a candidate in an LLM answer,
builds the sandbox job and knows the objective; the sandbox side is a *runner* named by
import path (`Task.runner`) that the sandbox worker is started with (see `TaskRunner`).
The sandbox package never imports a task.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pathlib import Path

    from nasloop.agents.base import PromptImprover
    from nasloop.agents.mutation.spec import Mutation
    from nasloop.config import Config
    from nasloop.finetune.pair import Pair
    from nasloop.finetune.pairs import PairMaker
    from nasloop.memory.archive import Archive
    from nasloop.sandbox.job import EvalJob


class Objective(BaseModel):
    """What the search optimises: one metric and its direction.

    The archive stores this metric's value as every candidate's `score` (and keeps all the
    metrics a candidate reported); ranking, best-so-far, triples and reports read it here.
    """

    model_config = ConfigDict(frozen=True)

    metric: str = "val_accuracy"
    direction: Literal["max", "min"] = "max"
    digits: int = 4  # decimals shown
    bounds: tuple[float, float] | None = (0.0, 1.0)  # the metric's domain (None: any value)

    def gain(self, new: float, old: float) -> float:
        """How much better `new` is than `old` (negative: worse), in the metric's units."""
        return new - old if self.direction == "max" else old - new

    def better(self, new: float | None, old: float | None) -> bool:
        """True when `new` is strictly better than `old` (anything beats None)."""
        if new is None:
            return False
        return old is None or self.gain(new, old) > 0

    def sort_key(self, value: float | None) -> float:
        """Key for sorting best first with `sorted(...)` (missing values last)."""
        if value is None or math.isnan(value):
            return math.inf
        return -value if self.direction == "max" else value

    def format(self, value: float | None) -> str:
        return "-" if value is None else f"{value:.{self.digits}f}"

    def describe(self, value: float) -> str:
        """`val_accuracy 0.9387`: the metric's name and a value."""
        return f"{self.metric} {self.format(value)}"


class NoParams(BaseModel):
    """Params of a task that takes none (any key is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskBrief(BaseModel):
    """What the agents are told about the task (plain text and names, no live objects)."""

    model_config = ConfigDict(frozen=True)

    kind: str
    line: str  # one line: what is searched, on what data, scored how
    contract: str  # the candidate contract, as the prompts show it
    objective: Objective = Objective()
    operators: dict[str, str] = Field(default_factory=dict)  # mutation ops -> summary

    def describe(self) -> str:
        return self.line


class MutationSpace(Protocol):
    """Typed mutations the heuristic agents can propose and apply for one task.

    Optionally, `shrinking` (a frozenset of operator names) names the operators that make a
    model smaller: the heuristic improver turns to them after a parameter-cap failure."""

    def operators(self) -> dict[str, str]:
        """{operator name: one-line summary}."""
        ...

    def propose(self, code: str) -> list[Mutation]:
        """The mutations that apply to `code` (MutationError when none can be worked out)."""
        ...

    def apply(self, code: str, mutation: Mutation) -> str:
        """The mutated source (MutationError with a one-line reason when it cannot)."""
        ...


class TaskRunner(Protocol):
    """The sandbox side of a task, named by `Task.runner` and built by the worker.

    `preload` runs in the worker before it forks any candidate process; `data_key` and
    `load` give the data a job needs, loaded once per worker and key; `run` runs in the
    candidate's own process (never the orchestrator's) and returns `EvalResult` fields with
    the candidate's *outputs* (predictions, restored images), not its score. A runner may
    also have `warm(data, waiting)`: trusted work (never candidate code) a pre-forked CPU
    candidate process runs while it waits for its job, so that the candidate's first run
    there does not pay a fresh process's first-use costs; it stops when `waiting()` says a
    job has arrived, and is cut short from outside if it does not.

    A runner that audits (`audits(job)` true for the job) has `run` return the trained model
    as a graph instead of outputs, and `audit(job, data)` compute the outputs and counts from
    it in a second sandboxed process that never holds candidate code (nasloop.sandbox.audit;
    `take_graph` and `merge` there may be overridden by the runner, as several datasets in
    one job do). Its `warm_audit(data, waiting)` (optional) is the auditor's process's
    trusted warm-up while it waits, stopping between its steps once `waiting()`.

    Static methods called on the trusted host, never in the sandbox: `prepare(job,
    sandbox_dir, trusted_dir)` splits the data into what the candidate may see and what
    scores it (`nasloop.sandbox.prepared`); `read_paths(job)` names the host paths the
    sandbox must see read-only, `hidden_paths(job)` those it must not (every copy of the
    labels); `score(job, raw)` turns the returned outputs into metrics against the trusted
    half and validates everything else that came back (failure `bad-result`). Every
    registered task's runner has all four (tests/unit/test_tasks.py).
    """

    def preload(self) -> None: ...

    def data_key(self, job: EvalJob) -> tuple[Any, ...]: ...

    def load(self, job: EvalJob) -> Any: ...

    def run(self, job: EvalJob, data: Any) -> dict[str, Any]: ...


class Task(ABC):
    """One kind of search. Subclasses set `kind`, `params_model` and `runner`."""

    kind: ClassVar[str]
    params_model: ClassVar[type[BaseModel]] = NoParams
    runner: ClassVar[str]  # "module:Class" of the TaskRunner
    objective: Objective = Objective()

    def __init__(self, config: Config, params: BaseModel | None = None) -> None:
        self.config = config
        self.params = params if params is not None else self.params_model()

    # --- what the agents see ----------------------------------------------------------
    @abstractmethod
    def brief(self) -> TaskBrief:
        """The task line, candidate contract and objective shown to the agents."""

    # --- candidates ---------------------------------------------------------------------
    @abstractmethod
    def seeds(self) -> list[tuple[str, str]]:
        """(name, code) of the candidates evaluated first, in this order."""

    @abstractmethod
    def check(self, code: str) -> str:
        """Static check of a candidate (no execution); returns its form, raises
        ContractError (with a failure class) when it cannot be a candidate."""

    @abstractmethod
    def extract(self, answer: str, cut_off: bool = False) -> tuple[str | None, str | None]:
        """(code, None) found in an LLM answer, or (None, why there is none)."""

    @abstractmethod
    def job(self, candidate_id: int, code: str, *, seed: int | None = None,
            op: str = "evaluate") -> EvalJob:
        """The sandbox job that evaluates `code` under the run's settings (`op` "check":
        only the checks before training, for triage)."""

    # --- optional abilities -------------------------------------------------------------
    def mutation_space(self) -> MutationSpace | None:
        """Typed mutations for the heuristic agents (None: the task has none)."""
        return None

    def heuristic_improver(self, space: MutationSpace, **options: Any) -> PromptImprover:
        """The LLM-free Prompt Improver of this task: the typed-mutation HeuristicImprover
        over `space` with `options` (explore, operators, credit) unless the task asks in
        its own way."""
        from nasloop.agents.heuristic import HeuristicImprover

        return HeuristicImprover(space, **options)

    # the metric of a final report (`nasloop final`): measured on a split the search never
    # saw, never used for selection; None when the task has no such split
    final_objective: ClassVar[Objective | None] = None

    def final_job(self, candidate_id: int, code: str, *, epochs: int, seed: int
                  ) -> EvalJob | None:
        """The job that trains `code` for `epochs` with training seed `seed` on the search's
        own data split and also reports `final_objective`'s metric (None: not offered)."""
        return None

    def promote_job(self, candidate_id: int, code: str, *, epochs: int, seed: int
                    ) -> EvalJob | None:
        """The job that trains `code` for `epochs` with training seed `seed` on the search's
        own data split, scored like the search's (the validation split, on the trusted
        side): a promotion of `[search.promote]` (None: not offered)."""
        return None

    def finetune_pairs(self, maker: PairMaker, archive: Archive, corpus: Path | None,
                       limit: int, seed: int) -> list[tuple[Pair, str]] | None:
        """A LoRA cycle's corpus pairs, (pair, prompt key), when the task makes its own from
        `corpus` and the archive (at most `limit`, drawn with `seed`); None (the default):
        the cycle draws channel-corpus records as for image classification."""
        return None

    def after_results(self, archive: Archive) -> None:  # noqa: B027
        """Called after each evaluated batch is stored, before its triples: scores that
        depend on the whole archive are brought up to date here; a no-op by default."""

    def after_cycle(self, run_dir: Path, archive: Archive, step: int) -> None:  # noqa: B027
        """Called after each recorded cycle (studies, extra files); a no-op by default."""

    def after_run(self, run_dir: Path, archive: Archive) -> None:  # noqa: B027
        """Called once when the run stops; a no-op by default."""

    def close(self) -> None:  # noqa: B027
        """Release what the task started (analysis workers); called when the run ends."""

    def report_sections(self, run_dir: Path) -> list[tuple[str, str]]:
        """(title, HTML) sections this task adds to `nasloop report`."""
        return []

