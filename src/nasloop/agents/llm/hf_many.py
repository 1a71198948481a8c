"""Several answers in one `generate` call for an `hf:` model.

langchain-huggingface's pipeline wrapper keeps only the first sequence of each prompt, so
these calls go to the transformers text-generation pipeline under it (`chat.llm.pipeline`,
read at call time: an adapter swap replaces it), with the chat template applied here as
`ChatHuggingFace` applies it. Token counts and the cut-off come from the tokenizer, as for
a single call.

- n samples of one prompt: `num_return_sequences=n` when sampling; greedy decoding gives
  one answer n times (it cannot differ), from one generation.
- different prompts: one padded batch (`batch_size=len(prompts)`, padding on the left);
  a tokenizer without a pad token cannot batch, and the prompts are asked separately.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

from nasloop.agents.llm.backend import ChatBackend
from nasloop.agents.llm.many import Sample


def chat_text(tokenizer: Any, messages: Sequence[BaseMessage]) -> str:
    """The prompt with the tokenizer's chat template and the assistant turn opened."""
    roles = {"human": "user", "ai": "assistant", "system": "system"}
    dicts = [{"role": roles.get(m.type, m.type), "content": m.content} for m in messages]
    return str(tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True))


def _texts(out: Any) -> list[str]:
    items = out if isinstance(out, list) else [out]
    return [str(item["generated_text"]) for item in items]


@dataclass
class PipelineMany:
    """`Many` for a transformers text-generation pipeline in this process."""

    sampling: bool  # do_sample: several samples of one prompt can differ
    concurrent: bool = False  # one model in this process: calls never overlap

    def samples(
        self, backend: ChatBackend, messages: Sequence[BaseMessage], n: int, seed: int
    ) -> list[Sample]:
        pipe = backend.chat.llm.pipeline  # type: ignore[attr-defined]
        text = chat_text(backend.tokenizer, messages)
        if backend.reseed is not None:
            backend.reseed(seed)
        if not self.sampling:
            return [Sample(t) for t in _texts(pipe(text))[:1]] * n
        return [Sample(t) for t in _texts(pipe(text, num_return_sequences=n))]

    def batch(
        self, backend: ChatBackend, prompts: Sequence[Sequence[BaseMessage]], seed: int
    ) -> list[Sample] | None:
        tok = backend.tokenizer
        if tok is None or tok.pad_token_id is None:
            return None
        pipe = backend.chat.llm.pipeline  # type: ignore[attr-defined]
        texts = [chat_text(tok, p) for p in prompts]
        side = tok.padding_side
        tok.padding_side = "left"  # decoder-only models continue after the last real token
        try:
            if backend.reseed is not None:
                backend.reseed(seed)
            outs = pipe(texts, batch_size=len(texts))
        finally:
            tok.padding_side = side
        return [Sample(_texts(o)[0]) for o in outs]
