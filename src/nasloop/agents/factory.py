"""Builds the two agents from their model strings in config.

`heuristic` is the LLM-free default; `python:module:Class` an agent of the user's own,
built as `Class(task)`; `hf:`, `openai:` and `langchain:` models are loaded
here, before the run (each distinct model once, shared by both roles when they name it),
and their prompts checked against the context window, so a model that cannot serve the run
fails with a one-line ConfigError instead of in the middle of it.
"""

from __future__ import annotations

from nasloop.agents.base import CodeGenerator, PromptImprover
from nasloop.agents.heuristic import HeuristicGenerator
from nasloop.agents.llm.models import parse_model
from nasloop.config import ConfigError
from nasloop.plugins import load_class
from nasloop.tasks.base import MutationSpace, Task

ROLES = ("improver", "generator")


def _space(task: Task, role: str) -> MutationSpace:
    """The task's mutation space, checked against `agents.operators`; ConfigError when the
    task has none (the heuristic agents need one) or an operator name is unknown."""
    space = task.mutation_space()
    if space is None:
        raise ConfigError(
            f"bad config: field 'agents.{role}': the {task.kind} task has no mutation space "
            "for the heuristic agents; name a language model (hf:, openai:, langchain:)"
        )
    names = task.config.agents.operators
    known = space.operators() if not names else _all_operators(task)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"bad config: field 'agents.operators': unknown operator {unknown[0]!r} "
            f"(known: {', '.join(sorted(known))})"
        )
    return space


def _all_operators(task: Task) -> dict[str, str]:
    """Every operator of the task's space, with no `agents.operators` limit."""
    unlimited = task.config.model_copy(
        update={"agents": task.config.agents.model_copy(update={"operators": []})})
    space = type(task)(unlimited, task.params).mutation_space()
    return space.operators() if space is not None else {}


def _plugin(task: Task, path: str, role: str) -> object:
    """An agent of the user's own (`python:module:Class`), built as `Class(task)`."""
    field = f"agents.{role}"
    cls = load_class(path, field)
    try:
        agent = cls(task)
    except Exception as err:
        first = (str(err).splitlines() or [type(err).__name__])[0]
        raise ConfigError(f"bad config: field '{field}': {path} could not be built "
                          f"({type(err).__name__}: {first})") from None
    method = "improve" if role == "improver" else "generate"
    if not callable(getattr(agent, method, None)) or not isinstance(
            getattr(agent, "name", None), str):
        raise ConfigError(f"bad config: field '{field}': {path} has no {method}() method or "
                          "no name")
    return agent


def build_agents(task: Task) -> tuple[PromptImprover, CodeGenerator]:
    """(improver, generator) for the configured models; fails before the run when unusable."""
    a = task.config.agents
    specs = {role: parse_model(a.model_of(role), f"agents.{role}", plugins=True)
             for role in ROLES}
    llm = {role: spec for role, spec in specs.items() if spec[0] not in ("heuristic", "python")}
    built: dict[str, object] = {
        role: _plugin(task, target, role) for role, (kind, target) in specs.items()
        if kind == "python"
    }
    if llm:
        from nasloop.agents.llm.assemble import build_llm_roles  # langchain only when asked

        built.update(build_llm_roles(task, llm))
    improver = built.get("improver") or task.heuristic_improver(
        _space(task, "improver"), explore=a.explore, operators=frozenset(a.operators),
        credit=task.config.search.operator_credit, tie=task.config.search.tie,
    )
    generator = built.get("generator") or HeuristicGenerator(_space(task, "generator"))
    return improver, generator  # type: ignore[return-value]
