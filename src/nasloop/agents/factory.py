"""Builds the two agents from their model strings in config.

`heuristic` is the LLM-free default; `hf:`, `openai:` and `langchain:` models are loaded
here, before the run (each distinct model once, shared by both roles when they name it),
and their prompts checked against the context window, so a model that cannot serve the run
fails with a one-line ConfigError instead of in the middle of it.
"""

from __future__ import annotations

from nasloop.agents.base import CodeGenerator, PromptImprover
from nasloop.agents.heuristic import HeuristicGenerator, HeuristicImprover
from nasloop.agents.llm.models import parse_model
from nasloop.agents.mutation.api import operator_summaries
from nasloop.config import Config, ConfigError

ROLES = ("improver", "generator")


def _operators(names: list[str]) -> frozenset[str]:
    """The operators the heuristic improver may use; ConfigError on a name not registered."""
    known = operator_summaries()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(
            f"bad config: field 'agents.operators': unknown operator {unknown[0]!r} "
            f"(known: {', '.join(sorted(known))})"
        )
    return frozenset(names)


def build_agents(config: Config) -> tuple[PromptImprover, CodeGenerator]:
    """(improver, generator) for the configured models; fails before the run when unusable."""
    a = config.agents
    specs = {role: parse_model(getattr(a, role), f"agents.{role}") for role in ROLES}
    llm = {role: spec for role, spec in specs.items() if spec[0] != "heuristic"}
    built: dict[str, object] = {}
    if llm:
        from nasloop.agents.llm.assemble import build_llm_roles  # langchain only when asked

        built.update(build_llm_roles(config, llm))
    improver = built.get("improver") or HeuristicImprover(
        explore=a.explore, operators=_operators(a.operators)
    )
    generator = built.get("generator") or HeuristicGenerator()
    return improver, generator  # type: ignore[return-value]
