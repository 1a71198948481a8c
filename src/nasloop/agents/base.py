"""The two agent roles as interfaces, shared by the heuristic and the LLM implementations.

Agents never touch the archive: they get a request, return an answer plus the calls they
made (prompt, raw response, latency), and the graph's nodes record both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from nasloop.memory.archive import Candidate
from nasloop.memory.credit import Credit
from nasloop.memory.triples import Triple
from nasloop.tasks.base import TaskBrief

if TYPE_CHECKING:
    from nasloop.inspect.rundir import RunView


class AgentCall(BaseModel):
    """One call an agent made (an LLM call, or the heuristic's decision)."""

    role: str  # improver | generator
    model: str
    prompt: str
    response: str
    latency_s: float
    ok: bool = True
    error: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


class Instruction(BaseModel):
    """The improver's answer: which parent to change, what it saw, what to do."""

    parent_id: int
    problem: str
    modification: str  # free text handed to the generator (or a mutation's description)
    expected_effect: str = ""
    mutation: dict[str, Any] | None = None  # a typed Mutation, when the improver chose one


class ImproveRequest(BaseModel):
    step: int  # the step the instruction is for
    seed: int  # run seed; agents derive their randomness from (seed, step)
    task: TaskBrief
    triples: list[Triple]  # the last K, oldest first
    last: Candidate | None  # the candidate just recorded
    parents: list[Candidate]  # trained candidates to choose from, best first
    # True when a search strategy ([search] strategy) ordered `parents`: the first is the
    # parent it sampled, the rest are fallbacks in order (no re-ranking, no exploring)
    ordered: bool = False
    # what the whole archive says beyond the window (empty when the caller does not know):
    # (parent id, modification) of every candidate made from a parent, this cycle's earlier
    # steps included: asking for one again wastes a step
    tried: list[tuple[int, str]] = Field(default_factory=list)
    # structural and canonical hashes (memory.novelty) of every program the archive holds,
    # duplicates included -> the candidate that first had it: a child equal to one of them
    # is a duplicate (reproducing an ancestor, e.g. undoing the parent's last edit)
    programs: dict[str, int] = Field(default_factory=dict)
    # candidates with valid code that failed only the parameter cap, smallest first: the
    # parents to shrink while nothing has trained
    over_cap: list[Candidate] = Field(default_factory=list)
    # attempts and wins (the child beat its parent) per operator over the whole archive
    credit: dict[str, Credit] = Field(default_factory=dict)
    # [search.promote]'s longer trainings: candidate id -> epochs -> mean score over seeds
    # (a candidate's own score is the proxy's: task.describe() says after how many epochs)
    promoted: dict[int, dict[int, float]] = Field(default_factory=dict)
    # the chance of working from another of the top candidates than the best at this step
    # ([search] explore_schedule); None: the improver's own setting
    explore: float | None = None
    # other members of the population to show beside parents[0] (nasloop.strategy.inspirations)
    inspirations: list[Candidate] = Field(default_factory=list)


class ImproveResult(BaseModel):
    instruction: Instruction | None  # None when the answer was unusable
    calls: list[AgentCall] = Field(default_factory=list)
    error: str | None = None


class GenerateRequest(BaseModel):
    step: int
    seed: int
    task: TaskBrief
    parent: Candidate
    instruction: Instruction
    triples: list[Triple]


class Generation(BaseModel):
    code: str | None  # None when no usable code came out
    calls: list[AgentCall] = Field(default_factory=list)
    error: str | None = None  # why there is no code


class PromptImprover(Protocol):
    """Reads what happened and writes the next instruction."""

    name: str

    def improve(self, request: ImproveRequest) -> ImproveResult: ...


class CodeGenerator(Protocol):
    """Turns an instruction and a parent into new model code."""

    name: str

    def generate(self, request: GenerateRequest) -> Generation: ...


# --- optional abilities (checked with isinstance) --------------------------------------------


@runtime_checkable
class Prepares(Protocol):
    """An agent with work worth doing while the sandbox trains (e.g. analysing the parents
    it may pick next): a list of calls the loop makes between polls."""

    def prepare(self, candidates: list[Candidate]) -> list[Callable[[], object]]: ...


@runtime_checkable
class ImprovesMany(Protocol):
    """An improver that answers a cycle's steps together (several answers per model call)."""

    def improve_many(self, requests: Sequence[ImproveRequest]) -> list[ImproveResult]: ...


@runtime_checkable
class GeneratesMany(Protocol):
    """A generator that answers a cycle's steps together (one batched model call)."""

    def generate_many(self, requests: Sequence[GenerateRequest]) -> list[Generation]: ...


@runtime_checkable
class SeesArchive(Protocol):
    """An agent (or a strategy of the user's own) that reads the whole archive: once the run
    is open it gets the run's read-only view (candidates, scores, triples), which always
    shows what has been recorded so far."""

    def see(self, archive: RunView) -> None: ...


@runtime_checkable
class ReadsInspirations(Protocol):
    """An improver that shows other members of the population beside its parent: the loop
    fills `ImproveRequest.inspirations` for it (`agents.inspirations` of them)."""

    reads_inspirations: bool
