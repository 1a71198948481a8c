"""The LLM improver and generator on scripted answers: retries, fallbacks, recorded calls,
context fitting. The scripted chat model is a test double standing in for a real one."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from nasloop.agents.base import GenerateRequest, ImproveRequest, Instruction
from nasloop.agents.delta import make_diff
from nasloop.agents.llm.backend import ChatBackend
from nasloop.agents.llm.context import PromptTooLarge, fit
from nasloop.agents.llm.generator import LLMGenerator
from nasloop.agents.llm.improver import LLMImprover
from nasloop.agents.llm.preflight import check_context
from nasloop.agents.llm.prompts import load_prompts
from nasloop.agents.llm.render import PromptBuilder
from nasloop.config import ConfigError, build_config
from nasloop.memory.archive import Candidate
from nasloop.memory.triples import Triple
from nasloop.tasks.image_classification.seeds import list_seeds, seed_source
from nasloop.tasks.registry import build_task

PARENT = seed_source("lenet")
CHILD = PARENT.replace("nn.Conv2d(6, 16, kernel_size=5)", "nn.Conv2d(6, 32, kernel_size=5)")
CHILD = CHILD.replace("nn.Linear(16 * ", "nn.Linear(32 * ")
IC = build_task(
    build_config({"train": {"max_params": 10**6}, "sandbox": {"limits": {"time_s": 60}}})
)
TASK = IC.brief()
GOOD_JSON = (
    '{"problem": "conv2 is narrow", "suggestion": "widen conv2 to 32", "expected_effect": "+1%"}'
)


class ScriptedChat(BaseChatModel):
    """Answers with the next scripted text (or raises it); keeps the prompts it was sent."""

    answers: list[Any]
    seen: list[list[BaseMessage]] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, **kw: Any) -> ChatResult:
        self.seen.append(list(messages))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])


def backend(answers: list[Any], window: int | None = None) -> ChatBackend:
    return ChatBackend(
        name="scripted:test",
        chat=ScriptedChat(answers=answers, seen=[]),
        max_new_tokens=200,
        context_window=window,
    )


def builder(history_chars: int = 400) -> PromptBuilder:
    prompts = load_prompts()
    contract = TASK.contract
    return PromptBuilder(prompts, contract, history_chars)


def cand(id: int, **kw: Any) -> Candidate:
    data: dict[str, Any] = dict.fromkeys(Candidate.model_fields)
    data.update(id=id, step=id, origin="seed:lenet", status="ok", eval_attempts=1, code=PARENT)
    data.update(kw)
    return Candidate.model_validate(data)


def triples(n: int) -> list[Triple]:
    return [
        Triple(
            step=i,
            candidate_id=i,
            problem=f"problem {i}",
            modification=f"change {i}",
            outcome=f"failed: shape (step {i})",
            failure_class="shape",
        )
        for i in range(n)
    ]


def improve_request(**kw: Any) -> ImproveRequest:
    best, other = cand(3, score=0.9), cand(2, score=0.8)
    last = cand(4, status="failed", failure_class="shape", failure_message="mat1 and mat2")
    base = dict(step=5, seed=0, task=TASK, triples=triples(2), last=last, parents=[best, other])
    return ImproveRequest(**{**base, **kw})


def gen_request() -> GenerateRequest:
    instr = Instruction(parent_id=1, problem="narrow", modification="widen conv2 to 32")
    return GenerateRequest(
        step=6, seed=0, task=TASK, parent=cand(1), instruction=instr, triples=triples(3)
    )


# --- improver ------------------------------------------------------------------------


def test_improver_reads_prose_wrapped_json_and_improves_the_best():
    b = backend([f"Sure, here you go:\n{GOOD_JSON}\nGood luck!"])
    result = LLMImprover(b, builder(), retries=2).improve(improve_request())
    assert result.instruction is not None and result.error is None
    assert result.instruction.parent_id == 3  # parents[0], the best
    assert result.instruction.modification == "widen conv2 to 32"
    [call] = result.calls
    assert call.ok and call.role == "improver" and call.model == "scripted:test"
    assert "class Net" in call.prompt and "mat1 and mat2" in call.prompt
    assert "change 1" in call.prompt  # the history is in the prompt


@pytest.mark.parametrize("tree, listed, absent", [
    ({"task": {"kind": "recipes"}}, ["loss: set the loss", "optimizer: set the optimizer"],
     ["widen"]),
    ({"task": {"recipe_operators": True}}, ["widen", "loss: set the loss", "ngl"], []),
    ({}, ["widen"], ["loss: set the loss"]),
])
def test_improver_prompt_lists_the_tasks_mutations(tree, listed, absent):
    """The LLM improver sees the task's typed mutations (recipe ones next to architecture
    ones when the task offers both), as the heuristic improver can propose them."""
    brief = build_task(build_config(tree)).brief()
    b = backend([GOOD_JSON])
    result = LLMImprover(b, builder(), retries=0).improve(improve_request(task=brief))
    prompt = result.calls[0].prompt
    for text in listed:
        assert text in prompt
    for text in absent:
        assert text not in prompt


def test_improver_is_told_the_fidelity_of_promoted_scores():
    """With [search.promote] results for the parent, its proxy score is marked as such and
    the longer trainings' means follow it."""
    req = improve_request().model_copy(update={"promoted": {3: {3: 0.91, 9: 0.955}}})
    b = backend([GOOD_JSON])
    prompt = LLMImprover(b, builder(), retries=0).improve(req).calls[0].prompt
    assert "(proxy); trained longer: 3 epochs 0.9100, 9 epochs 0.9550" in prompt
    plain = LLMImprover(backend([GOOD_JSON]), builder(), retries=0).improve(improve_request())
    assert "trained longer" not in plain.calls[0].prompt


def test_improver_shows_inspirations_as_diffs_against_the_parent():
    """The request's inspirations appear after the parent's code as unified diffs against
    it, each with its score; a long one is cut; none, no section."""
    other = cand(7, score=0.85, code=CHILD, params=99)
    far = cand(8, score=0.8, code="\n".join(f"x{i} = {i}" for i in range(80)))
    req = improve_request().model_copy(update={"inspirations": [other, far]})
    prompt = LLMImprover(backend([GOOD_JSON]), builder(), retries=0).improve(req).calls[0].prompt
    section = prompt.split("Other models of the population, as changes to #3")[1]
    assert "#7: val_accuracy 0.8500" in section and ", 99 parameters" in section
    assert "+        self.conv2 = nn.Conv2d(6, 32, kernel_size=5)" in section
    assert "-        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)" in section
    assert "#8: val_accuracy 0.8000" in section and "more lines]" in section
    assert section.index("#7") < section.index("#8")
    plain = LLMImprover(backend([GOOD_JSON]), builder(), retries=0).improve(improve_request())
    assert "Other models of the population" not in plain.calls[0].prompt


def test_improver_leaves_out_inspirations_before_any_history_line():
    """When the prompt would not fit with the inspirations and the whole history, the
    inspirations go and the history stays; with room, both are there."""
    req = improve_request().model_copy(update={"inspirations": [cand(7, score=0.85,
                                                                      code=CHILD)]})
    bld, probe = builder(), backend([])
    lines = bld.history(req.triples)
    full = probe.count_messages(bld.improver(TASK, req.parents[0], req.last, None,
                                             req.inspirations)(lines))
    bare = probe.count_messages(bld.improver(TASK, req.parents[0], req.last)(lines))
    assert full > bare + 10
    tight = backend([GOOD_JSON], window=200 + (full + bare) // 2)  # 200 new tokens
    prompt = LLMImprover(tight, bld, retries=0).improve(req).calls[0].prompt
    assert "Other models of the population" not in prompt
    assert "change 0" in prompt and "change 1" in prompt
    roomy = backend([GOOD_JSON], window=200 + full + 50)
    prompt = LLMImprover(roomy, bld, retries=0).improve(req).calls[0].prompt
    assert "Other models of the population" in prompt and "change 0" in prompt


def test_improver_retries_then_succeeds():
    b = backend(["I suggest adding dropout.", GOOD_JSON])
    result = LLMImprover(b, builder(), retries=2).improve(improve_request())
    assert result.instruction is not None
    assert [c.ok for c in result.calls] == [False, True]
    assert result.calls[0].error == "no JSON object in the answer"
    retry_prompt = b.chat.seen[1]
    assert retry_prompt[-2].content == "I suggest adding dropout."
    assert "no JSON object" in retry_prompt[-1].content


def test_improver_gives_up_after_bounded_retries():
    b = backend(["nonsense", "more nonsense", '{"problem": "too narrow"}', GOOD_JSON])
    result = LLMImprover(b, builder(), retries=2).improve(improve_request())
    assert result.instruction is None
    assert len(result.calls) == 3 and not any(c.ok for c in result.calls)
    assert "3 attempt(s)" in (result.error or "") and "suggestion" in (result.error or "")


def test_improver_survives_a_failing_model():
    b = backend([ConnectionError("server went away")])
    result = LLMImprover(b, builder(), retries=2).improve(improve_request())
    assert result.instruction is None and "server went away" in (result.error or "")
    assert len(result.calls) == 1 and not result.calls[0].ok


def test_improver_without_parents():
    result = LLMImprover(backend([]), builder(), retries=0).improve(improve_request(parents=[]))
    assert result.instruction is None and result.calls == []


# --- generator -----------------------------------------------------------------------


def test_full_mode():
    b = backend([f"```python\n{CHILD}```"])
    gen = LLMGenerator(b, builder(), "full", retries=1, extract=IC.extract).generate(gen_request())
    assert gen.code == CHILD and len(gen.calls) == 1 and gen.calls[0].role == "generator"
    assert "widen conv2 to 32" in gen.calls[0].prompt


def test_delta_mode_applies_the_diff():
    diff = make_diff(PARENT, CHILD, "model.py")
    b = backend([f"Here is the patch:\n```diff\n{diff}```"])
    gen = LLMGenerator(b, builder(), "delta", retries=0, extract=IC.extract).generate(gen_request())
    assert gen.code == CHILD and "unified diff" in gen.calls[0].prompt


def test_auto_falls_back_to_full_when_the_diff_does_not_apply():
    bad = "--- a/model.py\n+++ b/model.py\n@@ -1,2 +1,2 @@\n-import jax\n+import flax\n"
    b = backend([f"```diff\n{bad}```", f"```python\n{CHILD}```"])
    gen = LLMGenerator(b, builder(), "auto", retries=0, extract=IC.extract).generate(gen_request())
    assert gen.code == CHILD
    assert [c.ok for c in gen.calls] == [False, True]
    assert "could not be applied" in (gen.calls[0].error or "")
    assert "as a unified diff against" not in b.chat.seen[1][-1].content  # a fresh full request


def test_no_usable_code_is_a_recorded_failure():
    b = backend(["Add batch norm.", "Really, add batch norm.", "```python\nimport torch\n"])
    gen = LLMGenerator(b, builder(), "auto", retries=1, extract=IC.extract).generate(gen_request())
    assert gen.code is None
    assert len(gen.calls) == 3 and not any(c.ok for c in gen.calls)
    assert gen.error and gen.error.startswith("delta: no unified diff")
    assert "full: " in gen.error


# --- context -------------------------------------------------------------------------


def test_fit_drops_oldest_history_first():
    bld, b = builder(), backend([])
    base = bld.generator("generator_full", TASK, PARENT, gen_request().instruction)
    history = bld.history(triples(5))
    full = b.count_messages(base(history))
    b.context_window = full + b.max_new_tokens - 10  # a little too small for all of it
    messages, dropped = fit(b, base, history)
    assert dropped >= 1
    text = messages[-1].content
    assert "change 4" in text and "change 0" not in text


def test_fit_fails_when_even_the_parent_is_too_large():
    bld, b = builder(), backend([], window=400)
    base = bld.generator("generator_full", TASK, PARENT, gen_request().instruction)
    with pytest.raises(PromptTooLarge, match="context window 400"):
        fit(b, base, [])


def test_generator_records_a_prompt_too_large():
    b = backend(["never asked"], window=400)
    gen = LLMGenerator(b, builder(), "full", retries=0, extract=IC.extract).generate(gen_request())
    assert gen.code is None and "context window" in (gen.error or "") and gen.calls == []


def test_preflight_names_the_part_and_the_overflow():
    b = backend([], window=1500)
    seeds = list(list_seeds().items())
    with pytest.raises(ConfigError) as err:
        check_context(
            "agents.generator", b, builder(), "generator", ["generator_full"], TASK, seeds, 5
        )
    msg = str(err.value)
    assert "\n" not in msg
    assert "generator_full" in msg and "over by ~" in msg
    assert "largest part is the parent code (seed resnet_small)" in msg


def test_preflight_passes_with_room():
    b = backend([], window=32768)
    seeds = list(list_seeds().items())
    check_context("agents.improver", b, builder(), "improver", ["improver"], TASK, seeds, 5)
