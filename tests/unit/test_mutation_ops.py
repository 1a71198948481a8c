"""Every operator on every seed: the mutant builds and runs on 1- and 3-channel inputs."""

from __future__ import annotations

import random
import re

import pytest

from nasloop.agents.mutation import (
    OPERATORS,
    Mutation,
    MutationError,
    applicable_mutations,
    apply_mutation,
)
from nasloop.agents.mutation.context import analyse
from nasloop.agents.mutation.model import build
from nasloop.tasks.image_classification.seeds import list_seeds

SEEDS = list_seeds()


def _comments(code: str) -> list[str]:
    return re.findall(r"#.*", code)


@pytest.fixture(scope="module")
def proposals() -> dict[str, list[Mutation]]:
    return {name: applicable_mutations(code) for name, code in SEEDS.items()}


def test_every_operator_proposes_on_some_seed(proposals: dict[str, list[Mutation]]) -> None:
    used = {m.op for found in proposals.values() for m in found}
    assert set(OPERATORS) <= used


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_each_mutation_keeps_the_model_runnable_and_comments(
    seed: str, proposals: dict[str, list[Mutation]]
) -> None:
    parent = SEEDS[seed]
    ctx = analyse(parent)  # analysed once, shared by every mutation of this parent
    ops = {m.op for m in proposals[seed]}
    assert {"widen", "narrow", "activation", "kernel", "dropout", "add_block"} <= ops
    for mutation in proposals[seed]:
        child = apply_mutation(parent, mutation, context=ctx)
        assert child != parent
        for shape in ((2, 1, 32, 32), (2, 3, 32, 32)):
            build(child, shape, 10)  # raises MutationError if it does not run
        assert set(_comments(parent)) <= set(_comments(child)), mutation.describe()
        # the untouched lines keep their exact text
        kept = set(child.splitlines())
        untouched = [line for line in parent.splitlines() if "self." not in line]
        assert all(line in kept for line in untouched if "import" in line or "def " in line)


def test_mutation_is_deterministic() -> None:
    parent = SEEDS["resnet_small"]
    mutation = Mutation(op="widen", layer="conv2a", args={"factor": 2})
    assert apply_mutation(parent, mutation) == apply_mutation(parent, mutation)
    assert applicable_mutations(parent) == applicable_mutations(parent)


def test_mutations_chain() -> None:
    code = SEEDS["lenet"]
    for mutation in (
        Mutation(op="widen", layer="conv1", args={"factor": 2}),
        Mutation(op="norm", layer="conv1", args={"kind": "batch"}),
        Mutation(op="widen", layer="conv1", args={"factor": 2}),
        Mutation(op="kernel", layer="conv1", args={"size": 3}),
        Mutation(op="add_block", layer="conv2"),
        Mutation(op="widen", layer="conv2", args={"factor": 1.5}),
    ):
        code = apply_mutation(code, mutation)
    assert "nn.Conv2d(channels, 24, kernel_size=3, padding=1)" in code
    assert "nn.BatchNorm2d(24)" in code
    # the inserted block now reads conv2's 24 channels and still writes 16 to the classifier
    assert "nn.Conv2d(24, 16, kernel_size=3, padding=1)" in code
    assert "nn.Linear(16 * (height // 4 - 2) * (width // 4 - 2), 120)" in code
    build(code, (2, 3, 32, 32), 10)


def test_unknown_operator_and_bad_arguments_are_refused() -> None:
    parent = SEEDS["lenet"]
    with pytest.raises(MutationError, match="unknown operator"):
        apply_mutation(parent, Mutation(op="teleport"))
    with pytest.raises(MutationError, match="unknown activation"):
        apply_mutation(parent, Mutation(op="activation", args={"kind": "Swish2"}))
    with pytest.raises(MutationError, match="no layer"):
        apply_mutation(parent, Mutation(op="widen", layer="conv9", args={"factor": 2}))
    with pytest.raises(MutationError, match="factor"):
        apply_mutation(parent, Mutation(op="widen", layer="conv1", args={"factor": 0.5}))


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_random_walk_every_proposal_applies(seed: str) -> None:
    """What the heuristic generator does: pick a proposal, apply it, repeat on the child."""
    rng = random.Random(seed)
    code = SEEDS[seed]
    for _ in range(20):
        mutation = rng.choice(applicable_mutations(code))
        code = apply_mutation(code, mutation)  # a proposal that does not apply fails here
    build(code, (2, 3, 32, 32), 10)
