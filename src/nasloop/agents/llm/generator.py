"""The LLM Code Generator: full files, unified diffs, or diffs falling back to full files.

Each format gets `1 + retries` attempts: `full` and `delta` re-ask in their own format
(the unusable answer and the reason shown back); `auto` asks for a diff once and, when it
cannot be applied, for the whole file. A diff answer that holds a whole file
instead is taken as one. No usable code gives `Generation(code=None, error=...)` with
every attempt recorded; the generator never raises.

`generate_many` serves a batch of steps: their first attempts (one prompt per instruction)
go to the model together where the backend can batch them (`many.ask_many`); retries and
fallbacks to full files are asked one by one, as in `generate`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage

from nasloop.agents.base import AgentCall, GenerateRequest, Generation
from nasloop.agents.delta import apply_diff, extract_diff
from nasloop.agents.llm.backend import ChatBackend, Reply, ask
from nasloop.agents.llm.context import Build, PromptTooLarge, fit, then
from nasloop.agents.llm.improver import call_seed
from nasloop.agents.llm.many import ask_many
from nasloop.agents.llm.render import DELTA_FORMAT, FULL_FORMAT, PromptBuilder

DIFF_PATH = "model.py"
# the task's reader of a candidate in an answer: (text, cut_off) -> (code, why not)
Extract = Callable[[str, bool], "tuple[str | None, str | None]"]


@dataclass(frozen=True)
class Usable:
    code: str | None
    error: str | None = None


def read_full(text: str, parent: str, extract: Extract, cut_off: bool = False) -> Usable:
    """The whole file in a full-mode answer."""
    code, error = extract(text, cut_off)
    if code is None:
        return Usable(None, error)
    if code.strip() == parent.strip():
        return Usable(None, "the answer repeats the parent unchanged")
    return Usable(code)


def read_delta(text: str, parent: str, extract: Extract, cut_off: bool = False) -> Usable:
    """The parent patched by the diff in a delta-mode answer (or a whole file given instead)."""
    diff = extract_diff(text)
    if diff is None:
        whole = read_full(text, parent, extract, cut_off)
        if whole.code is not None:
            return whole
        return Usable(None, "no unified diff in the answer" + (" (cut off)" if cut_off else ""))
    result = apply_diff(parent, diff, path=DIFF_PATH)
    if not result.ok or result.code is None:
        failed = [h for h in result.hunks if h.status == "failed"]
        where = "; ".join(
            (f"hunk {h.index + 1}: " if h.index >= 0 else "") + h.detail for h in failed[:3]
        )
        return Usable(None, f"the diff could not be applied ({where or 'no hunk applied'})")
    if result.code.strip() == parent.strip():
        return Usable(None, "the diff changes nothing")
    return Usable(result.code)


class LLMGenerator:
    """Writes a new candidate from the parent and the instruction with a language model."""

    def __init__(
        self, backend: ChatBackend, builder: PromptBuilder, mode: str, retries: int,
        extract: Extract,
    ) -> None:
        self.backend = backend
        self.builder = builder
        self.mode = mode
        self.retries = retries
        self.extract = extract  # the task's: finds its candidate in an answer
        self.name = backend.name

    def plan(self) -> list[str]:
        """The format of each attempt, in order."""
        n = 1 + self.retries
        if self.mode == "auto":
            return ["delta"] + ["full"] * n
        return [self.mode] * n

    def generate(self, request: GenerateRequest) -> Generation:
        return self.generate_many([request])[0]

    def generate_many(self, requests: Sequence[GenerateRequest]) -> list[Generation]:
        """One generation per request; first attempts asked together, retries one by one."""
        fmt = self.plan()[0]
        results: list[Generation | None] = [None] * len(requests)
        asked: list[tuple[int, list[BaseMessage]]] = []
        for i, request in enumerate(requests):
            base = self._base(request, fmt)
            try:
                messages, _ = fit(self.backend, base, self.builder.history(request.triples))
            except PromptTooLarge as err:
                results[i] = Generation(code=None, error=f"{fmt}: {err}")
                continue
            asked.append((i, messages))
        seeds = [call_seed(requests[i].seed, requests[i].step, "generator", 0) for i, _ in asked]
        replies = ask_many(self.backend, "generator", [m for _, m in asked], seeds)
        for (i, _), reply in zip(asked, replies, strict=True):
            results[i] = self._settle(requests[i], reply)
        return [r for r in results if r is not None]

    def _base(self, request: GenerateRequest, fmt: str) -> Build:
        template = "generator_delta" if fmt == "delta" else "generator_full"
        parent = request.parent.code or ""
        return self.builder.generator(template, request.task, parent, request.instruction)

    def _settle(self, request: GenerateRequest, first: Reply) -> Generation:
        """Read the first answer; re-ask alone, following the plan, while it is unusable."""
        parent = request.parent.code or ""
        history = self.builder.history(request.triples)
        calls: list[AgentCall] = []
        errors: list[str] = []
        extra: list[BaseMessage] = []
        previous = None
        for attempt, fmt in enumerate(self.plan()):
            if fmt != previous:
                extra = []  # a new format starts a fresh conversation
            previous = fmt
            if attempt == 0:
                reply = first
            else:
                try:
                    messages, _ = fit(self.backend, then(self._base(request, fmt), extra), history)
                except PromptTooLarge as err:
                    errors.append(f"{fmt}: {err}")
                    break
                seed = call_seed(request.seed, request.step, "generator", attempt)
                reply = ask(self.backend, "generator", messages, seed)
            if not reply.call.ok:
                calls.append(reply.call)
                errors.append(f"{fmt}: {reply.call.error}")
                break
            got = self._read(fmt, reply, parent)
            if got.code is not None:
                calls.append(reply.call)
                return Generation(code=got.code, calls=calls)
            calls.append(reply.call.model_copy(update={"ok": False, "error": got.error}))
            errors.append(f"{fmt}: {got.error}")
            extra = self.builder.retry_turn(
                "generator_retry",
                reply.text,
                error=got.error or "unusable",
                answer_format=DELTA_FORMAT if fmt == "delta" else FULL_FORMAT,
            )
        return Generation(code=None, calls=calls, error="; ".join(errors) or "no attempt made")

    def _read(self, fmt: str, reply: Reply, parent: str) -> Usable:
        if fmt == "delta":
            return read_delta(reply.text, parent, self.extract, reply.cut_off)
        return read_full(reply.text, parent, self.extract, reply.cut_off)
