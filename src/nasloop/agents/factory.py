"""Builds the two agents from their model strings in config."""

from __future__ import annotations

from nasloop.agents.base import CodeGenerator, PromptImprover
from nasloop.agents.heuristic import HeuristicGenerator, HeuristicImprover
from nasloop.config import Config, ConfigError


def build_agents(config: Config) -> tuple[PromptImprover, CodeGenerator]:
    """(improver, generator) for the configured models; fails before the run on a bad name."""
    a = config.agents
    for role, model in (("improver", a.improver), ("generator", a.generator)):
        if model != "heuristic":
            raise ConfigError(
                f"bad config: field 'agents.{role}': unknown model {model!r} "
                "(this version offers 'heuristic')"
            )
    return HeuristicImprover(explore=a.explore), HeuristicGenerator()
