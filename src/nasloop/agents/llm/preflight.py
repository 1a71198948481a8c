"""The pre-run context check: the longest prompt each role can send, against its model.

"Longest" uses the largest seed as the parent, K history lines and every clipped free-text
field at their full length, and a retry turn; the filler is real code from the seeds, so
token counts are realistic.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import BaseMessage

from nasloop.agents.base import Instruction
from nasloop.agents.llm.backend import ChatBackend
from nasloop.agents.llm.context import overflow, overflow_message
from nasloop.agents.llm.render import ECHO_CHARS, FULL_FORMAT, PromptBuilder
from nasloop.config import ConfigError
from nasloop.memory.archive import Candidate
from nasloop.tasks.base import TaskBrief


def _filler(source: str, n: int) -> str:
    text = re.sub(r"\s+", " ", source).strip() or "x"
    return (text * (n // len(text) + 1))[:n]


def _candidate(**fields: Any) -> Candidate:
    data: dict[str, Any] = dict.fromkeys(Candidate.model_fields)
    data.update(step=0, origin="seed", eval_attempts=1)
    data.update(fields)
    return Candidate.model_validate(data)


def worst_prompts(
    builder: PromptBuilder,
    role: str,
    templates: list[str],
    task: TaskBrief,
    parent_code: str,
    k: int,
) -> tuple[dict[str, list[BaseMessage]], dict[str, str]]:
    """The longest messages per template of a role, and their main parts by name."""
    limit = builder.limit
    lines = [_filler(parent_code[i * 97 :], limit) for i in range(k)]
    echo = _filler(parent_code, ECHO_CHARS)
    error = _filler(parent_code, limit)
    parts = {
        "parent code": parent_code,
        "history": "\n".join(lines),
        "candidate contract": builder.contract,
        "retry turn": echo,
    }
    prompts: dict[str, list[BaseMessage]] = {}
    if role == "improver":
        parent = _candidate(id=1, status="ok", code=parent_code, score=0.5, params=10**6)
        last = _candidate(id=2, status="failed", failure_class="crash", failure_message=error)
        base = builder.improver(task, parent, last)(lines)
        prompts["improver"] = base
        prompts["improver_retry"] = base + builder.retry_turn("improver_retry", echo, error=error)
        return prompts, parts
    instruction = Instruction(
        parent_id=1,
        problem=error,
        modification=_filler(parent_code, 2 * limit),
        expected_effect=error,
    )
    parts["instruction"] = instruction.problem + instruction.modification
    for name in templates:
        base = builder.generator(name, task, parent_code, instruction)(lines)
        prompts[name] = base
        prompts[f"{name} retry"] = base + builder.retry_turn(
            "generator_retry", echo, error=error, answer_format=FULL_FORMAT
        )
    return prompts, parts


def check_context(
    field: str,
    backend: ChatBackend,
    builder: PromptBuilder,
    role: str,
    templates: list[str],
    task: TaskBrief,
    seeds: list[tuple[str, str]],
    k: int,
) -> None:
    """Raise a one-line ConfigError when the role's longest prompt cannot fit its model."""
    if backend.context_window is None:
        return
    if backend.max_new_tokens >= backend.context_window:
        raise ConfigError(
            f"bad config: field 'agents.max_new_tokens': {backend.max_new_tokens} leaves no room "
            f"for a prompt in the context window of {backend.name} ({backend.context_window})"
        )
    name, code = max(seeds, key=lambda s: len(s[1]))
    prompts, parts = worst_prompts(builder, role, templates, task, code, k)
    parts[f"parent code (seed {name})"] = parts.pop("parent code")
    found = overflow(backend, prompts, parts)
    if found is not None:
        raise ConfigError(f"cannot start: {overflow_message(field, backend, found)}")
