"""Prompt -> answer pairs in exactly the format the LLM generator is prompted with.

An elite's pair is rebuilt from the archive: its parent's code, the instruction it realised
and the triples the generator saw at its step, rendered by the run's own `PromptBuilder`
and fitted to the model's window as the generator fits them. A corpus record's pair asks
for its channel change of its parent in the context of one of the run's own generation
prompts (its problem, expected effect and history): a model trained on prompts that all
look alike learns their layout, and breaks on prompts of another length. The answer is
the elite's whole file in a ```python block (full mode) or its diff against the parent
in a ```diff block (delta and auto mode: auto asks for a diff first).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import NamedTuple

from langchain_core.messages import BaseMessage

from nasloop.agents.base import Instruction
from nasloop.agents.delta import make_diff
from nasloop.agents.llm.backend import ChatBackend, _role, _text
from nasloop.agents.llm.context import PromptTooLarge, fit
from nasloop.agents.llm.render import PromptBuilder
from nasloop.corpus.records import CorpusRecord
from nasloop.finetune.pair import Pair
from nasloop.memory.archive import Archive, Candidate
from nasloop.tasks.base import TaskBrief

CORPUS_PROBLEM = "another channel configuration may fit the task better"


class Context(NamedTuple):
    """What a generation prompt says besides the parent and the change asked for."""

    problem: str
    expected_effect: str
    history: tuple[str, ...]


def template_for(mode: str) -> str:
    """The generator template whose format the pairs follow (auto asks for a diff first)."""
    return "generator_full" if mode == "full" else "generator_delta"


def answer_for(mode: str, parent: str, code: str) -> str:
    """The answer the generator should have given: the file, or the diff to it."""
    if mode == "full":
        return f"```python\n{code.rstrip()}\n```"
    return f"```diff\n{make_diff(parent, code).rstrip()}\n```"


def as_dicts(messages: Sequence[BaseMessage]) -> tuple[dict[str, str], ...]:
    return tuple({"role": _role(m), "content": _text(m.content)} for m in messages)


class PairMaker:
    """Builds pairs with one run's prompt builder, task, generator mode and model."""

    def __init__(
        self,
        builder: PromptBuilder,
        task: TaskBrief,
        mode: str,
        backend: ChatBackend,
        k: int,
    ) -> None:
        self.builder = builder
        self.task = task
        self.mode = mode
        self.backend = backend
        self.k = k

    def _pair(
        self, parent: str, instruction: Instruction, history: list[str], code: str, source: str
    ) -> Pair | None:
        base = self.builder.generator(template_for(self.mode), self.task, parent, instruction)
        try:
            messages, _ = fit(self.backend, base, history)
        except PromptTooLarge:
            return None
        return Pair(as_dicts(messages), answer_for(self.mode, parent, code), source)

    def ask(self, parent: str, instruction: Instruction, history: list[str], code: str,
            source: str) -> Pair | None:
        """The pair asking `instruction` of `parent` and answering `code` (None when the
        prompt does not fit the model's window); tasks build their own pairs with it."""
        return self._pair(parent, instruction, history, code, source)

    def from_elite(self, archive: Archive, elite: Candidate) -> Pair | None:
        """The pair that would have produced `elite` (None for a seed: no prompt made it)."""
        raw = archive.instruction(elite.id)
        if elite.parent_id is None or raw is None or not elite.code:
            return None
        parent = archive.get(elite.parent_id).code or ""
        triples = archive.triples(last=self.k, before=elite.step)
        history = self.builder.history(triples)
        return self._pair(
            parent, Instruction.model_validate(raw), history, elite.code, f"elite:#{elite.id}"
        )

    def contexts(self, archive: Archive, last: int = 200) -> list[Context]:
        """The contexts the run's generator was asked in: for each of the `last` generated
        candidates, its instruction's problem and expected effect and the history it saw."""
        found: list[Context] = []
        for step, raw in archive.recent_instructions(last):
            ins = Instruction.model_validate(raw)
            history = self.builder.history(archive.triples(last=self.k, before=step))
            found.append(Context(ins.problem, ins.expected_effect, tuple(history)))
        return found

    def from_record(self, record: CorpusRecord, context: Context | None = None) -> Pair | None:
        """A corpus variant asked of its parent as a channel change, in `context` (one the
        run's generator was asked in, so the prompt varies as the loop's prompts do)."""
        ctx = context or Context(CORPUS_PROBLEM, f"raise {self.task.objective.metric}", ())
        instruction = Instruction(
            parent_id=0,
            problem=ctx.problem,
            modification=record.description,
            expected_effect=ctx.expected_effect,
        )
        return self._pair(
            record.parent_code,
            instruction,
            list(ctx.history),
            record.code,
            f"corpus:{record.id[:12]}",
        )


def draw(records: Sequence[CorpusRecord], n: int, seed: int) -> list[CorpusRecord]:
    """`n` records drawn without replacement for a cycle (all of them when n is 0)."""
    if n <= 0 or n >= len(records):
        return list(records)
    return random.Random(seed).sample(list(records), n)


def prompt_key(parent_code: str, modification: str) -> str:
    """What makes a generation prompt the same as a training pair's (held-out check): a
    short hash of the parent's code and the change asked for."""
    key = f"{parent_code.strip()}\x00{modification.strip()}"
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def trained_keys(cycles: Sequence[dict], before: int) -> set[str]:
    """The prompt keys of every pair trained on after the cycles numbered below `before`
    (rows of the `finetune_cycles` table, as `CycleStore.cycles()` returns them)."""
    return {k for c in cycles if c["cycle"] < before for k in (c["train"] or {}).get("keys", [])}
