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
from nasloop.config import Config

ROLES = ("improver", "generator")


def build_agents(config: Config) -> tuple[PromptImprover, CodeGenerator]:
    """(improver, generator) for the configured models; fails before the run when unusable."""
    a = config.agents
    specs = {role: parse_model(getattr(a, role), f"agents.{role}") for role in ROLES}
    llm = {role: spec for role, spec in specs.items() if spec[0] != "heuristic"}
    built: dict[str, object] = {}
    if llm:
        from nasloop.agents.llm.assemble import build_llm_roles  # langchain only when asked

        built.update(build_llm_roles(config, llm))
    improver = built.get("improver") or HeuristicImprover(explore=a.explore)
    generator = built.get("generator") or HeuristicGenerator()
    return improver, generator  # type: ignore[return-value]
