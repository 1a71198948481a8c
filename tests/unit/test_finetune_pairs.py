"""Corpus pairs are asked in the contexts the run's generator was asked in."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from nasloop.agents.llm.prompts import load_prompts
from nasloop.agents.llm.render import PromptBuilder
from nasloop.config import Config
from nasloop.corpus.records import CorpusRecord
from nasloop.finetune.pairs import CORPUS_PROBLEM, Context, PairMaker
from nasloop.memory.archive import Archive
from nasloop.memory.triples import Triple
from nasloop.tasks.image_classification.seeds import list_seeds

LENET = list_seeds()["lenet"]
WIDER = LENET.replace("nn.Linear(120, 84)", "nn.Linear(120, 90)").replace(
    "nn.Linear(84, out_shape[0])", "nn.Linear(90, out_shape[0])"
)


@pytest.fixture
def maker() -> PairMaker:
    config = Config()
    builder = PromptBuilder(load_prompts({}), "CONTRACT", 2000)
    backend = SimpleNamespace(context_window=None)  # no window: nothing is cut
    from nasloop.tasks.registry import build_task

    return PairMaker(builder, build_task(config).brief(), "full", backend, k=2)


def _archive(path) -> Archive:
    """A seed, then three generated candidates, each after one more triple."""
    a = Archive(path)
    a.add_candidate(
        0, parent_id=None, origin="seed", modification="seed", code=LENET, diff=None, gen_s=0.0
    )
    for step in (1, 2, 3):
        instruction = {
            "parent_id": 1,
            "problem": f"problem {step}",
            "modification": f"change {step}",
            "expected_effect": f"effect {step}",
        }
        a.add_candidate(
            step,
            parent_id=1,
            origin="hf:tiny",
            modification=f"change {step}",
            code=WIDER,
            diff=None,
            gen_s=0.0,
            instruction=json.dumps(instruction),
        )
        a.add_triple(
            Triple(
                step=step,
                candidate_id=step + 1,
                problem=f"p{step}",
                modification=f"m{step}",
                outcome=f"o{step}",
            )
        )
    return a


def test_contexts_are_the_runs_prompts_newest_first(maker: PairMaker, tmp_path) -> None:
    archive = _archive(tmp_path / "a.sqlite")
    try:
        contexts = maker.contexts(archive)
        assert [c.problem for c in contexts] == ["problem 3", "problem 2", "problem 1"]
        assert [c.expected_effect for c in contexts] == ["effect 3", "effect 2", "effect 1"]
        # the history each step saw: the triples before it, at most k of them
        assert [len(c.history) for c in contexts] == [2, 1, 0]
        assert "m2" in contexts[0].history[-1] and "m1" in contexts[0].history[0]
        assert len(maker.contexts(archive, last=2)) == 2
    finally:
        archive.close()


def test_a_corpus_pair_takes_the_context_it_is_given(maker: PairMaker) -> None:
    record = CorpusRecord(
        id="r" * 32,
        parent="lenet.py",
        parent_hash="h",
        attempt=0,
        code=WIDER,
        diff="",
        mutations=[],
        description="widen(layer=fc2, channels=90)",
        channels={"fc2": 90},
        params=0,
        flops=0.0,
        form="lemur",
        in_shape=[1, 32, 32],
        num_classes=10,
        parent_code=LENET,
    )
    plain = maker.from_record(record)
    assert plain is not None and CORPUS_PROBLEM in plain.messages[-1]["content"]

    ctx = Context("val_accuracy stalled at 0.61", "a smaller model", ("#3 widen: +0.02",))
    pair = maker.from_record(record, ctx)
    assert pair is not None
    prompt = "\n".join(m["content"] for m in pair.messages)
    assert "val_accuracy stalled at 0.61" in prompt and "a smaller model" in prompt
    assert "#3 widen: +0.02" in prompt and "widen(layer=fc2, channels=90)" in prompt
    assert CORPUS_PROBLEM not in prompt
    assert pair.answer == plain.answer and pair.answer.startswith("```python\n")
