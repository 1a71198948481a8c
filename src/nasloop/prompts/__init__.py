"""Prompt templates of the LLM agents, as files (``<name>.txt``) loaded by name.

Templates use ``string.Template`` placeholders (``${parent_code}``); a literal dollar is
``$$``. Users override any of them with ``[agents.prompts] name = "file.txt"``. The
candidate contract is the task's own template (``nasloop/tasks/<kind>/contract.txt``).
"""

from __future__ import annotations

from importlib import resources

NAMES = (
    "system",
    "improver",
    "improver_retry",
    "generator_full",
    "generator_delta",
    "generator_retry",
)


def builtin(name: str) -> str:
    """The text of a built-in template; KeyError naming the known ones."""
    if name not in NAMES:
        raise KeyError(f"unknown prompt template {name!r}; known: {', '.join(NAMES)}")
    return (resources.files(__package__) / f"{name}.txt").read_text(encoding="utf-8")
