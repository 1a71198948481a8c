"""The LLM Prompt Improver: reads the best model and what happened, proposes one change.

It answers with a JSON object (problem, suggestion, expected effect) validated by pydantic;
an unusable answer is re-asked up to `retries` times (the bad answer and the reason shown
back), then reported as an error with every attempt recorded. It never raises.
"""

from __future__ import annotations

import zlib

from langchain_core.messages import BaseMessage

from nasloop.agents.base import ImproveRequest, ImproveResult, Instruction
from nasloop.agents.llm.answers import parse_improver
from nasloop.agents.llm.backend import ChatBackend, ask
from nasloop.agents.llm.context import PromptTooLarge, fit, then
from nasloop.agents.llm.render import PromptBuilder


def call_seed(seed: int, step: int, role: str, attempt: int) -> int:
    """A sampling seed derived from (run seed, step, role, attempt): resumes repeat it."""
    return zlib.crc32(f"{seed}:{step}:{role}:{attempt}".encode()) & 0x7FFFFFFF


class LLMImprover:
    """Improves the best candidate (`request.parents[0]`) with a language model."""

    def __init__(self, backend: ChatBackend, builder: PromptBuilder, retries: int) -> None:
        self.backend = backend
        self.builder = builder
        self.retries = retries
        self.name = backend.name

    def improve(self, request: ImproveRequest) -> ImproveResult:
        if not request.parents:
            return ImproveResult(instruction=None, error="no trained candidate to improve yet")
        parent = request.parents[0]
        base = self.builder.improver(request.task, parent, request.last)
        history = self.builder.history(request.triples)
        calls = []
        extra: list[BaseMessage] = []
        error = "no attempt made"
        for attempt in range(1 + self.retries):
            try:
                messages, _ = fit(self.backend, then(base, extra), history)
            except PromptTooLarge as err:
                return ImproveResult(instruction=None, calls=calls, error=str(err))
            seed = call_seed(request.seed, request.step, "improver", attempt)
            reply = ask(self.backend, "improver", messages, seed)
            if not reply.call.ok:  # the model itself failed: no point asking again now
                calls.append(reply.call)
                return ImproveResult(instruction=None, calls=calls, error=reply.call.error)
            try:
                answer = parse_improver(reply.text)
            except ValueError as err:
                error = str(err)
                calls.append(reply.call.model_copy(update={"ok": False, "error": error}))
                extra = self.builder.retry_turn("improver_retry", reply.text, error=error)
                continue
            calls.append(reply.call)
            instruction = Instruction(
                parent_id=parent.id,
                problem=answer.problem,
                modification=answer.suggestion,
                expected_effect=answer.expected_effect,
            )
            return ImproveResult(instruction=instruction, calls=calls)
        return ImproveResult(
            instruction=None,
            calls=calls,
            error=f"no usable answer in {len(calls)} attempt(s): {error}",
        )
