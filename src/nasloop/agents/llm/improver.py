"""The LLM Prompt Improver: reads the best model and what happened, proposes one change.

It answers with a JSON object (problem, suggestion, expected effect) validated by pydantic;
an unusable answer is re-asked up to `retries` times (the bad answer and the reason shown
back), then reported as an error with every attempt recorded. It never raises.

`improve_many` serves a batch of steps: their first attempts come from one call where the
backend gives several answers per call (`many.ask_many`; the steps of one cycle share one
prompt, so one call with n samples); an unusable answer is re-asked alone, as in `improve`.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Sequence

from langchain_core.messages import BaseMessage

from nasloop.agents.base import ImproveRequest, ImproveResult, Instruction
from nasloop.agents.llm.answers import parse_improver
from nasloop.agents.llm.backend import ChatBackend, Reply, ask
from nasloop.agents.llm.context import Build, PromptTooLarge, fit, then
from nasloop.agents.llm.many import ask_many
from nasloop.agents.llm.render import PromptBuilder


def call_seed(seed: int, step: int, role: str, attempt: int) -> int:
    """A sampling seed derived from (run seed, step, role, attempt): resumes repeat it."""
    return zlib.crc32(f"{seed}:{step}:{role}:{attempt}".encode()) & 0x7FFFFFFF


class LLMImprover:
    """Improves the best candidate (`request.parents[0]`) with a language model, shown
    beside it the request's inspirations."""

    reads_inspirations = True

    def __init__(self, backend: ChatBackend, builder: PromptBuilder, retries: int) -> None:
        self.backend = backend
        self.builder = builder
        self.retries = retries
        self.name = backend.name

    def improve(self, request: ImproveRequest) -> ImproveResult:
        return self.improve_many([request])[0]

    def improve_many(self, requests: Sequence[ImproveRequest]) -> list[ImproveResult]:
        """One result per request; first attempts asked together, retries one by one."""
        results: list[ImproveResult | None] = [None] * len(requests)
        asked: list[tuple[int, Build, list[str], list[BaseMessage]]] = []
        for i, request in enumerate(requests):
            if not request.parents:
                results[i] = ImproveResult(
                    instruction=None, error="no trained candidate to improve yet"
                )
                continue
            history = self.builder.history(request.triples)
            try:
                base, messages = self._fitted(request, history)
            except PromptTooLarge as err:
                results[i] = ImproveResult(instruction=None, error=str(err))
                continue
            asked.append((i, base, history, messages))
        seeds = [call_seed(requests[i].seed, requests[i].step, "improver", 0) for i, *_ in asked]
        replies = ask_many(self.backend, "improver", [m for *_, m in asked], seeds)
        for (i, base, history, _), reply in zip(asked, replies, strict=True):
            results[i] = self._settle(requests[i], base, history, reply)
        return [r for r in results if r is not None]

    def _fitted(self, request: ImproveRequest, history: list[str]
                ) -> tuple[Build, list[BaseMessage]]:
        """The prompt and its messages, fitted to the context window: the inspirations go
        first (when they would cost a history line), then the oldest history lines."""
        parent = request.parents[0]
        promoted = request.promoted.get(parent.id)
        if request.inspirations:
            base = self.builder.improver(request.task, parent, request.last, promoted,
                                         request.inspirations)
            with contextlib.suppress(PromptTooLarge):
                messages, dropped = fit(self.backend, base, history)
                if not dropped:
                    return base, messages
        base = self.builder.improver(request.task, parent, request.last, promoted)
        return base, fit(self.backend, base, history)[0]

    def _settle(
        self, request: ImproveRequest, base: Build, history: list[str], reply: Reply
    ) -> ImproveResult:
        """Read the first answer; re-ask alone while it is unusable and retries remain."""
        parent = request.parents[0]
        calls = []
        attempt = 0
        while True:
            if not reply.call.ok:  # the model itself failed: no point asking again now
                calls.append(reply.call)
                return ImproveResult(instruction=None, calls=calls, error=reply.call.error)
            try:
                answer = parse_improver(reply.text)
            except ValueError as err:
                error = str(err)
                calls.append(reply.call.model_copy(update={"ok": False, "error": error}))
            else:
                calls.append(reply.call)
                instruction = Instruction(
                    parent_id=parent.id,
                    problem=answer.problem,
                    modification=answer.suggestion,
                    expected_effect=answer.expected_effect,
                )
                return ImproveResult(instruction=instruction, calls=calls)
            attempt += 1
            if attempt > self.retries:
                return ImproveResult(
                    instruction=None,
                    calls=calls,
                    error=f"no usable answer in {len(calls)} attempt(s): {error}",
                )
            extra = self.builder.retry_turn("improver_retry", reply.text, error=error)
            try:
                messages, _ = fit(self.backend, then(base, extra), history)
            except PromptTooLarge as err:
                return ImproveResult(instruction=None, calls=calls, error=str(err))
            seed = call_seed(request.seed, request.step, "improver", attempt)
            reply = ask(self.backend, "improver", messages, seed)
