"""Building the agents' chat messages from the templates and a request's parts.

Free text that comes from the loop (triples, failure messages, an LLM improver's
instruction) is clipped to `history_chars` so that no single part can crowd out the
parent code; history lines are then dropped oldest first by `context.fit` when needed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from nasloop.agents.base import Instruction
from nasloop.agents.llm.context import Build
from nasloop.agents.llm.prompts import Prompts
from nasloop.memory.archive import Candidate
from nasloop.memory.triples import Triple
from nasloop.tasks.base import Objective, TaskBrief

FULL_FORMAT = "Answer again with the complete new Python file in one ```python block."
DELTA_FORMAT = "Answer again with one ```diff block: a unified diff against model.py with @@ hunks."
ECHO_CHARS = 1500  # how much of an unusable answer is shown back in a retry turn
INSPIRATION_LINES = 30  # diff lines shown per inspiration (cut beyond)
INSPIRATION_LINE_CHARS = 160  # and characters per diff line


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(limit - 5, 0)].rstrip() + " [..]"


def describe(c: Candidate | None, limit: int, objective: Objective,
             promoted: dict[int, float] | None = None) -> str:
    """What became of a candidate, in one clipped line; with `promoted` (epochs -> mean
    score of its longer trainings) the score is marked as the proxy's and those follow."""
    if c is None:
        return "none yet"
    if c.status == "ok" and c.score is not None:
        params = f", {c.params} parameters" if c.params is not None else ""
        longer = ""
        if promoted:
            longer = " (proxy); trained longer: " + ", ".join(
                f"{e} epochs {objective.format(s)}" for e, s in sorted(promoted.items()))
        return f"#{c.id}: {objective.describe(c.score)}{longer}{params}"
    if c.status == "duplicate":
        return f"#{c.id}: a duplicate of #{c.duplicate_of}, not trained"
    msg = (c.failure_message or "").strip().splitlines()
    detail = f": {msg[0]}" if msg else ""
    return clip(f"#{c.id}: failed ({c.failure_class or c.status}){detail}", limit)


def inspirations_text(parent: Candidate, others: Sequence[Candidate], limit: int,
                      objective: Objective) -> str:
    """Other candidates as unified diffs against the parent's code, each cut to
    INSPIRATION_LINES lines of INSPIRATION_LINE_CHARS; empty when there are none."""
    if not others:
        return ""
    blocks = [f"Other models of the population, as changes to #{parent.id} (borrow what "
              "helps):"]
    old = (parent.code or "").splitlines()
    for c in others:
        diff = list(difflib.unified_diff(old, (c.code or "").splitlines(), f"#{parent.id}",
                                         f"#{c.id}", n=1, lineterm=""))[2:]
        if len(diff) > INSPIRATION_LINES:
            diff = diff[:INSPIRATION_LINES] + [f"[.. {len(diff) - INSPIRATION_LINES} more lines]"]
        body = "\n".join(clip(line, INSPIRATION_LINE_CHARS) if len(line) > INSPIRATION_LINE_CHARS
                         else line for line in diff)
        blocks.append(f"{describe(c, limit, objective)}\n```diff\n{body}\n```")
    return "\n".join(blocks) + "\n"


def history_text(lines: Sequence[str]) -> str:
    return "\n".join(f"- {ln}" for ln in lines) if lines else "(none yet)"


def operators_text(operators: dict[str, str]) -> str:
    """The task's typed mutations, one line each (`name: summary`)."""
    if not operators:
        return "(none: describe the change in words)"
    return "\n".join(f"- {name}: {summary}" for name, summary in operators.items())


class PromptBuilder:
    """Messages for each role, from one run's templates and contract."""

    def __init__(self, prompts: Prompts, contract: str, history_chars: int) -> None:
        self.prompts = prompts
        self.contract = contract
        self.limit = history_chars

    def system(self) -> SystemMessage:
        return SystemMessage(self.prompts.render("system").strip())

    def history(self, triples: Sequence[Triple]) -> list[str]:
        """History lines, oldest first, each clipped."""
        return [clip(t.render(), self.limit) for t in triples]

    def improver(self, task: TaskBrief, parent: Candidate, last: Candidate | None,
                 promoted: dict[int, float] | None = None,
                 inspirations: Sequence[Candidate] = ()) -> Build:
        """The improver's messages; `promoted`: the parent's longer trainings (epochs ->
        mean score), shown beside its proxy score; `inspirations`: other candidates shown
        as diffs against the parent."""
        shown = inspirations_text(parent, inspirations, self.limit, task.objective)

        def build(lines: list[str]) -> list[BaseMessage]:
            obj = task.objective
            user = self.prompts.render(
                "improver",
                task=task.describe(),
                contract=self.contract,
                parent_id=parent.id,
                parent_result=describe(parent, self.limit, obj, promoted).split(": ", 1)[-1],
                parent_code=(parent.code or "").rstrip(),
                last_result=describe(last, self.limit, obj),
                history=history_text(lines),
                metric=obj.metric,
                operators=operators_text(task.operators),
                inspirations=shown,
            )
            return [self.system(), HumanMessage(user.strip())]

        return build

    def generator(
        self, template: str, task: TaskBrief, parent_code: str, instruction: Instruction
    ) -> Build:
        def build(lines: list[str]) -> list[BaseMessage]:
            user = self.prompts.render(
                template,
                task=task.describe(),
                contract=self.contract,
                parent_code=parent_code.rstrip(),
                history=history_text(lines),
                problem=clip(instruction.problem, self.limit),
                modification=clip(instruction.modification, 2 * self.limit),
                expected_effect=clip(instruction.expected_effect or "-", self.limit),
            )
            return [self.system(), HumanMessage(user.strip())]

        return build

    def retry_turn(self, template: str, answer: str, **values: str) -> list[BaseMessage]:
        """The unusable answer (clipped) and the follow-up asking for a usable one."""
        follow = self.prompts.render(template, **values).strip()
        return [AIMessage(clip(answer, ECHO_CHARS) or "(empty answer)"), HumanMessage(follow)]
