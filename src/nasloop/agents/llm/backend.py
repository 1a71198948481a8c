"""A loaded chat model, and one recorded call to it.

Every backend kind (hf, openai, langchain) yields a `ChatBackend`: a LangChain
`BaseChatModel` plus what the agents need around it (context window, token counting,
seeding). `ask` makes one call and turns it into an `AgentCall`; a model that raises
(server gone, out of memory) gives a failed call, never an exception.
`many.ask_many` gets several answers from one call where the backend can.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from nasloop.agents.base import AgentCall

CHARS_PER_TOKEN = 3.0  # estimate when no tokenizer is at hand (code runs ~3-4 chars a token)


class LoadError(Exception):
    """A model that cannot be loaded; the message says what to do."""


@dataclass
class ChatBackend:
    """A chat model ready for the agents."""

    name: str  # the model string as configured, recorded with every call
    chat: BaseChatModel
    max_new_tokens: int
    context_window: int | None  # None: unknown (the pre-run check is skipped)
    tokenizer: Any = None  # a transformers tokenizer: exact token counts
    send_seed: bool = False  # pass seed= with each request (OpenAI-compatible servers)
    reseed: Callable[[int], None] | None = None  # seed in-process generation before a call
    model: Any = None  # hf: the transformers model it generates with (a PeftModel with an adapter)
    adapter: str | None = None  # hf: the LoRA adapter folder in use (None: the bare base)
    many: Any = None  # several answers in one call (a `many.Many`); None: one call each

    @property
    def exact_tokens(self) -> bool:
        return self.tokenizer is not None

    def count_text(self, text: str) -> int:
        """Tokens in `text` (an estimate without a tokenizer)."""
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def count_messages(self, messages: Sequence[BaseMessage]) -> int:
        """Tokens of a whole prompt, chat template included when the tokenizer has one."""
        tok = self.tokenizer
        if tok is not None and getattr(tok, "chat_template", None):
            dicts = [{"role": _role(m), "content": _text(m.content)} for m in messages]
            ids = tok.apply_chat_template(dicts, tokenize=True, add_generation_prompt=True)
            if isinstance(ids, dict) or hasattr(ids, "keys"):  # BatchEncoding (transformers 5)
                ids = ids["input_ids"]
            return len(ids)
        return sum(self.count_text(_text(m.content)) + 4 for m in messages)


def _role(m: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(m.type, m.type)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
    return "".join(parts)


def render_messages(messages: Sequence[BaseMessage]) -> str:
    """A prompt as one text, for the archive."""
    return "\n\n".join(f"[{_role(m)}]\n{_text(m.content)}" for m in messages)


@dataclass(frozen=True)
class Reply:
    text: str
    call: AgentCall
    cut_off: bool  # the model stopped at its token limit


def _first_line(err: BaseException) -> str:
    msg = str(err).strip().splitlines()
    return f"{type(err).__name__}: {msg[0] if msg else ''}"[:300]


def ask(backend: ChatBackend, role: str, messages: Sequence[BaseMessage], seed: int) -> Reply:
    """One call to the model, timed and counted."""
    prompt = render_messages(messages)
    t0 = time.perf_counter()
    try:
        if backend.reseed is not None:
            backend.reseed(seed)
        kwargs: dict[str, Any] = {"seed": seed} if backend.send_seed else {}
        msg = backend.chat.invoke(list(messages), **kwargs)
    except Exception as err:  # noqa: BLE001 - any model failure is a recorded, failed call
        call = AgentCall(
            role=role,
            model=backend.name,
            prompt=prompt,
            response="",
            latency_s=time.perf_counter() - t0,
            ok=False,
            error=f"model call failed: {_first_line(err)}",
        )
        return Reply("", call, cut_off=False)
    latency = time.perf_counter() - t0
    usage = getattr(msg, "usage_metadata", None) or {}
    meta = getattr(msg, "response_metadata", None) or {}
    return make_reply(
        backend,
        role,
        messages,
        _text(msg.content),
        latency,
        tokens_in=usage.get("input_tokens"),
        tokens_out=usage.get("output_tokens"),
        finish=meta.get("finish_reason") or meta.get("stop_reason"),
    )


def make_reply(
    backend: ChatBackend,
    role: str,
    messages: Sequence[BaseMessage],
    text: str,
    latency: float,
    *,
    tokens_in: int | None = None,
    tokens_out: int | None = None,
    finish: str | None = None,
) -> Reply:
    """An answer as a recorded call; token counts the model did not report are counted here
    when the backend has a tokenizer, and a missing finish reason is read off the count."""
    if tokens_in is None and backend.exact_tokens:
        tokens_in = backend.count_messages(messages)
    if tokens_out is None and backend.exact_tokens:
        tokens_out = backend.count_text(text)
    cut_off = finish == "length" or (
        finish is None and tokens_out is not None and tokens_out >= backend.max_new_tokens
    )
    call = AgentCall(
        role=role,
        model=backend.name,
        prompt=render_messages(messages),
        response=text,
        latency_s=latency,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
    )
    return Reply(text, call, cut_off)
