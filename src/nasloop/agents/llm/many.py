"""Several answers from one model call, each recorded as its own `AgentCall`.

A batch of `run.batch` steps asks the model for one answer per step. `ask_many` gets them
in as few calls as the backend allows (`ChatBackend.many`):

- the same prompt for every step (the improver: same triples, same parents): one call for
  n samples (`Many.samples`: OpenAI's `n`, transformers' `num_return_sequences`);
- different prompts (the generator: one instruction each): one batched call where the
  backend has one (`Many.batch`: a padded transformers batch), else separate calls, run
  concurrently where `Many.concurrent` says the client allows it (an OpenAI-compatible
  server such as vLLM batches concurrent requests itself);
- no `many` (`langchain:` models): separate calls, one after another.

What one call for several answers shares, and how it is recorded: every answer is its own
`AgentCall` with the whole prompt; `latency_s` is the call's wall time divided by the
answers it gave (so summed latencies stay the time spent); `tokens_in` is the prompt's
length (what each answer saw); `tokens_out` is the answer's own length, or None where the
server reports only a total. A call that raises gives every answer a failed call.

Seeds: one call for several answers is seeded with the first step's seed; answers the
backend did not give (a server that ignores `n`) and separate calls use their own step's
seed, exactly as `ask` one by one would. A resume repeats the same calls, so the same
answers. A single prompt always goes through `ask`, as before batching existed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from langchain_core.messages import BaseMessage

from nasloop.agents.base import AgentCall
from nasloop.agents.llm.backend import ChatBackend, Reply, ask, make_reply, render_messages

Prompt = Sequence[BaseMessage]


@dataclass(frozen=True)
class Sample:
    """One answer of a call that gave several."""

    text: str
    tokens_in: int | None = None  # None: counted with the tokenizer, when there is one
    tokens_out: int | None = None
    finish: str | None = None  # "stop" | "length" | None (unknown: read off tokens_out)


class Many(Protocol):
    """How a backend gives several answers in one call."""

    concurrent: bool  # separate calls may overlap (a thread-safe client to a server)

    def samples(self, backend: ChatBackend, messages: Prompt, n: int, seed: int) -> list[Sample]:
        """Up to `n` answers to one prompt in one call; fewer: the rest are asked separately."""
        ...

    def batch(
        self, backend: ChatBackend, prompts: Sequence[Prompt], seed: int
    ) -> list[Sample] | None:
        """One answer per prompt in one call; None: no such call, ask separately."""
        ...


def _key(messages: Prompt) -> tuple[tuple[str, str], ...]:
    return tuple((m.type, str(m.content)) for m in messages)


def ask_many(
    backend: ChatBackend, role: str, prompts: Sequence[Prompt], seeds: Sequence[int]
) -> list[Reply]:
    """One reply per prompt (in order), from as few model calls as the backend allows."""
    if len(prompts) != len(seeds):
        raise ValueError("one seed per prompt")
    many: Many | None = backend.many
    if len(prompts) <= 1 or many is None:
        return separately(backend, role, prompts, seeds, concurrent=False)
    t0 = time.perf_counter()
    try:
        if len({_key(p) for p in prompts}) == 1:
            got: list[Sample] | None = many.samples(backend, prompts[0], len(prompts), seeds[0])
        else:
            got = many.batch(backend, prompts, seeds[0])
    except Exception as err:  # noqa: BLE001 - like `ask`: a recorded failure per answer
        share = (time.perf_counter() - t0) / len(prompts)
        return [_failed(backend, role, p, share, err, len(prompts)) for p in prompts]
    got = list(got or [])[: len(prompts)]
    share = (time.perf_counter() - t0) / max(1, len(got))
    replies = [
        make_reply(
            backend,
            role,
            prompts[i],
            s.text,
            share,
            tokens_in=s.tokens_in,
            tokens_out=s.tokens_out,
            finish=s.finish,
        )
        for i, s in enumerate(got)
    ]
    rest = len(got)
    return replies + separately(
        backend, role, prompts[rest:], seeds[rest:], concurrent=many.concurrent
    )


def separately(
    backend: ChatBackend,
    role: str,
    prompts: Sequence[Prompt],
    seeds: Sequence[int],
    *,
    concurrent: bool,
) -> list[Reply]:
    """One `ask` per prompt with its own seed; overlapping when `concurrent`."""
    if not concurrent or len(prompts) <= 1:
        return [ask(backend, role, p, s) for p, s in zip(prompts, seeds, strict=True)]
    with ThreadPoolExecutor(max_workers=len(prompts), thread_name_prefix="ask") as pool:
        pairs = zip(prompts, seeds, strict=True)
        futures = [pool.submit(ask, backend, role, p, s) for p, s in pairs]
        return [f.result() for f in futures]


def _failed(
    backend: ChatBackend, role: str, messages: Prompt, share: float, err: BaseException, n: int
) -> Reply:
    lines = str(err).strip().splitlines()
    first = f"{type(err).__name__}: {lines[0] if lines else ''}"[:300]
    call = AgentCall(
        role=role,
        model=backend.name,
        prompt=render_messages(messages),
        response="",
        latency_s=share,
        ok=False,
        error=f"model call failed (one call for {n} answers): {first}",
    )
    return Reply("", call, cut_off=False)
