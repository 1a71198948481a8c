"""Building the LLM agents of a run: load the models (each once), render the contract,
check that the prompts fit, and hand back the two roles."""

from __future__ import annotations

from nasloop.agents.llm.generator import LLMGenerator
from nasloop.agents.llm.improver import LLMImprover
from nasloop.agents.llm.models import ModelPool
from nasloop.agents.llm.preflight import check_context
from nasloop.agents.llm.prompts import load_prompts
from nasloop.agents.llm.render import PromptBuilder
from nasloop.tasks.base import Task

TEMPLATES = {
    "full": ["generator_full"],
    "delta": ["generator_delta"],
    "auto": ["generator_delta", "generator_full"],
}


def build_llm_roles(
    task: Task, specs: dict[str, tuple[str, str]], pool: ModelPool | None = None
) -> dict[str, LLMImprover | LLMGenerator]:
    """LLM agents for the roles in `specs` (role -> (kind, target)); ConfigError when bad."""
    config = task.config
    a = config.agents
    pool = pool or ModelPool(a)
    prompts = load_prompts(a.prompts)
    brief = task.brief()
    builder = PromptBuilder(prompts, brief.contract, a.history_chars)
    seeds = task.seeds()
    roles: dict[str, LLMImprover | LLMGenerator] = {}
    for role, (kind, target) in specs.items():
        field = f"agents.{role}"
        backend = pool.get(kind, target, field)
        if role == "improver":
            templates = ["improver"]
            roles[role] = LLMImprover(backend, builder, a.retries)
        else:
            templates = TEMPLATES[a.mode]
            roles[role] = LLMGenerator(backend, builder, a.mode, a.retries, task.extract)
        check_context(field, backend, builder, role, templates, brief, seeds, config.memory.k)
    return roles
