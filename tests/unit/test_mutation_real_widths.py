"""Channel variants of real-world width patterns: widths in lists built in loops, stage
configs indexed by i, grouped convolutions, view-flattens in untraceable forwards,
torchvision blocks configured by a dataclass. The analysis runs in-process (tests are
trusted); each pattern yields at least 20 distinct valid variants and keeps its expressions."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasloop.agents.mutation import Mutation, MutationError, apply_mutation
from nasloop.agents.mutation.api import confirm
from nasloop.agents.mutation.context import analyse
from nasloop.agents.mutation.model import load_module
from nasloop.corpus.space import channel_space, realise, sample
from nasloop.memory.novelty import structural_hash

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "candidates"
PATTERNS = ["lemur_widths_loop", "lemur_stage_cfg", "lemur_grouped", "lemur_view_flatten",
            "lemur_torchvision", "lemur_cnn", "bare_cnn"]  # fmt: skip
SHAPE = (2, 1, 32, 32)


def _code(name: str) -> str:
    return (FIXTURES / f"{name}.py").read_text()


@pytest.mark.parametrize("name", PATTERNS)
def test_each_width_pattern_yields_twenty_distinct_valid_variants(name: str) -> None:
    code = _code(name)
    ctx = analyse(code, SHAPE, 10)
    slots = channel_space(ctx)
    variants: set[str] = set()
    for attempt in range(120):
        try:
            child = realise(ctx, sample(slots, 0, attempt))
            confirm(child, SHAPE, 10)
        except MutationError:
            continue
        variants.add(structural_hash(child))
        if len(variants) >= 20:
            break
    assert len(variants) >= 20, (name, len(variants), slots)


def _changed(parent: str, child: str) -> list[tuple[str, str]]:
    return [(a.strip(), b.strip()) for a, b in zip(parent.splitlines(), child.splitlines(),
                                                   strict=True) if a != b]


def test_list_held_widths_are_edited_in_the_list_and_the_classifier_follows() -> None:
    code = _code("lemur_widths_loop")
    child = apply_mutation(code, Mutation(op="widen", layer="features.8", args={"channels": 48}),
                           SHAPE, 10)
    assert _changed(code, child) == [("widths = [8, 16, 24]", "widths = [8, 16, 48]")]
    child = apply_mutation(code, Mutation(op="narrow", layer="classifier.0",
                                          args={"channels": 32}), SHAPE, 10)
    assert _changed(code, child) == [("HIDDEN = 64", "HIDDEN = 32")]


def test_stage_configs_indexed_by_i_change_their_entry() -> None:
    code = _code("lemur_stage_cfg")
    child = apply_mutation(code, Mutation(op="widen", layer="blocks.1.conv1",
                                          args={"channels": 32}), SHAPE, 10)
    assert _changed(code, child) == [("stages = [(8, 1), (16, 2), (32, 2)]",
                                      "stages = [(8, 1), (32, 2), (32, 2)]")]


def test_grouped_convolutions_keep_divisibility() -> None:
    code = _code("lemur_grouped")
    slots = {s.layer: s for s in channel_space(analyse(code, SHAPE, 10))}
    assert all(w % 4 == 0 for w in slots["reduce"].choices)
    with pytest.raises(MutationError, match="groups"):
        apply_mutation(code, Mutation(op="widen", layer="reduce", args={"channels": 34}),
                       SHAPE, 10)


def test_mutants_keep_the_parents_generality() -> None:
    # the classifier's input is computed from in_shape: the child must still compute it
    code = _code("lemur_view_flatten")
    child = apply_mutation(code, Mutation(op="widen", layer="conv2", args={"channels": 48}),
                           SHAPE, 10)
    assert _changed(code, child) == [("c1, c2 = 12, 24", "c1, c2 = 12, 48")]
    confirm(child, (2, 1, 28, 28), 10)  # still builds for another input size


def test_torchvision_blocks_follow_the_dataclass_field() -> None:
    code = _code("lemur_torchvision")
    load_module(code)  # a @dataclass file loads in the mutation agent
    child = apply_mutation(code, Mutation(op="widen", layer="block.conv1", args={"channels": 48}),
                           SHAPE, 10)
    assert _changed(code, child) == [("body: int = 24", "body: int = 48")]
