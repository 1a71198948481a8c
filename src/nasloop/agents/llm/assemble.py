"""Building the LLM agents of a run: load the models (each once), render the contract,
check that the prompts fit, and hand back the two roles."""

from __future__ import annotations

from nasloop.agents.llm.generator import LLMGenerator
from nasloop.agents.llm.improver import LLMImprover
from nasloop.agents.llm.models import ModelPool
from nasloop.agents.llm.preflight import check_context
from nasloop.agents.llm.prompts import load_prompts
from nasloop.agents.llm.render import PromptBuilder
from nasloop.config import Config

TEMPLATES = {
    "full": ["generator_full"],
    "delta": ["generator_delta"],
    "auto": ["generator_delta", "generator_full"],
}


def build_llm_roles(
    config: Config, specs: dict[str, tuple[str, str]], pool: ModelPool | None = None
) -> dict[str, LLMImprover | LLMGenerator]:
    """LLM agents for the roles in `specs` (role -> (kind, target)); ConfigError when bad."""
    from nasloop.runner import load_seeds  # runner imports the factory; import on use
    from nasloop.task import task_info

    a = config.agents
    pool = pool or ModelPool(a)
    prompts = load_prompts(a.prompts)
    task = task_info(config)
    t = config.train
    contract = prompts.render(
        "contract",
        in_shape=task.in_shape,
        num_classes=task.num_classes,
        max_params=t.max_params,
        epochs=t.epochs,
        time_limit_s=f"{t.time_limit_s:g}",
    ).strip()
    builder = PromptBuilder(prompts, contract, a.history_chars)
    seeds = load_seeds(config)
    roles: dict[str, LLMImprover | LLMGenerator] = {}
    for role, (kind, target) in specs.items():
        field = f"agents.{role}"
        backend = pool.get(kind, target, field)
        if role == "improver":
            templates = ["improver"]
            roles[role] = LLMImprover(backend, builder, a.retries)
        else:
            templates = TEMPLATES[a.mode]
            roles[role] = LLMGenerator(backend, builder, a.mode, a.retries)
        check_context(field, backend, builder, role, templates, task, seeds, config.memory.k)
    return roles
