"""Keeping prompts inside a model's context window.

Before the run, the longest prompt a role can send (largest seed as parent, K history
lines at their longest, a retry turn) plus the generation budget must fit, else a one-line
error names the largest part and the overflow. During the run, the oldest history lines
are dropped until the prompt fits; a prompt that cannot fit even without history is a
recorded failure of that step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from nasloop.agents.llm.backend import ChatBackend

Build = Callable[[list[str]], list[BaseMessage]]  # history lines -> messages


class PromptTooLarge(Exception):
    """A prompt that does not fit even with no history."""


def then(build: Build, extra: Sequence[BaseMessage]) -> Build:
    """`build` followed by fixed extra turns (a retry's answer and follow-up)."""
    tail = list(extra)
    return lambda lines: build(lines) + tail


def budget(backend: ChatBackend) -> int | None:
    """Prompt tokens available once the generation budget is set aside (None: unknown)."""
    if backend.context_window is None:
        return None
    return backend.context_window - backend.max_new_tokens


def fit(
    backend: ChatBackend, build: Build, history: Sequence[str]
) -> tuple[list[BaseMessage], int]:
    """Messages that fit the window, dropping the oldest history first; (messages, dropped)."""
    room = budget(backend)
    lines = list(history)
    messages = build(lines)
    if room is None:
        return messages, 0
    dropped = 0
    while backend.count_messages(messages) > room and lines:
        lines.pop(0)
        dropped += 1
        messages = build(lines)
    need = backend.count_messages(messages)
    if need > room:
        raise PromptTooLarge(
            f"prompt needs {need} tokens without history + {backend.max_new_tokens} new tokens "
            f"> context window {backend.context_window} of {backend.name}"
        )
    return messages, dropped


@dataclass(frozen=True)
class Overflow:
    """How far the longest prompt of a role overflows, and its largest part."""

    template: str
    need: int
    part: str
    part_tokens: int


def overflow(
    backend: ChatBackend, prompts: dict[str, list[BaseMessage]], parts: dict[str, str]
) -> Overflow | None:
    """The worst of `prompts` (template name -> messages) if it does not fit, else None."""
    room = budget(backend)
    if room is None:
        return None
    sizes = {name: backend.count_messages(msgs) for name, msgs in prompts.items()}
    worst = max(sizes, key=lambda n: sizes[n])
    if sizes[worst] <= room:
        return None
    tokens = {name: backend.count_text(text) for name, text in parts.items()}
    part = max(tokens, key=lambda n: tokens[n])
    return Overflow(worst, sizes[worst], part, tokens[part])


def overflow_message(field: str, backend: ChatBackend, o: Overflow) -> str:
    """One line: which prompt, which part, by how much, and what to change."""
    window = backend.context_window or 0
    over = o.need + backend.max_new_tokens - window
    approx = "" if backend.exact_tokens else "~"
    return (
        f"{field} = '{backend.name}': the {o.template} prompt needs {approx}{o.need} tokens "
        f"+ max_new_tokens {backend.max_new_tokens} > context window {window} "
        f"(over by {approx}{over}); its largest part is the {o.part} "
        f"({approx}{o.part_tokens} tokens): lower agents.max_new_tokens, memory.k or "
        "agents.history_chars, use smaller seeds, or set agents.context_window if the "
        "model has a longer one"
    )
