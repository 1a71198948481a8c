"""Every built-in operator yields trainable code on every built-in image-classification seed.

Each proposed mutation of each seed is applied, then trained for one batch (forward,
backward, optimizer step) by the trainer's own LEMUR path (`train_setup`, then `learn`,
with the loss guard), in this process: seeds and their mutants are trusted code, and the
sandbox would add only its start-up cost per mutant.
"""

from __future__ import annotations

import pytest
import torch

from nasloop.agents.mutation import OPERATORS, Mutation, apply_mutation
from nasloop.agents.mutation.api import applicable_mutations
from nasloop.agents.mutation.context import analyse
from nasloop.agents.mutation.model import single_thread
from nasloop.data.split_files import CandidateData
from nasloop.sandbox.classify import classify_exception
from nasloop.tasks.image_classification.checks import build_model, load_module, model_prm
from nasloop.tasks.image_classification.contract import detect_form
from nasloop.tasks.image_classification.prm import prm_table
from nasloop.tasks.image_classification.seeds import list_seeds
from nasloop.tasks.image_classification.settings import TrainSettings
from nasloop.tasks.image_classification.trainer import train_lemur

SEEDS = list_seeds()
SHAPE = (1, 1, 32, 32)  # digits, the embedded default
BATCH = 8


@pytest.fixture(scope="module")
def one_batch() -> CandidateData:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, *SHAPE[1:], generator=gen)
    y = torch.arange(BATCH) % 10
    return CandidateData("synthetic", x, y, x[:2], x[:2], (BATCH, *SHAPE[1:]), 10)


def _train_one_batch(code: str, data: CandidateData) -> None:
    settings = TrainSettings(batch_size=BATCH, epochs=1)
    form = detect_form(code)
    assert form == "lemur"  # every built-in seed is in the LEMUR form
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(0)
        module = load_module(code)
        prm = model_prm(module, form, prm_table(settings.lr, settings.momentum, BATCH, 1))
        model = build_model(module, form, code, data.in_shape, 10, prm, "cpu")
        before = [p.detach().clone() for p in model.parameters()]
        train_lemur(model, data, settings, 0, prm)
    after = list(model.parameters())
    assert any(not torch.equal(a, b.detach()) for a, b in zip(before, after, strict=True))


@pytest.fixture(scope="module")
def proposals() -> dict[str, list[Mutation]]:
    return {name: applicable_mutations(code, SHAPE, 10) for name, code in SEEDS.items()}


def test_every_operator_is_exercised(proposals: dict[str, list[Mutation]]) -> None:
    used = {m.op for found in proposals.values() for m in found}
    assert set(OPERATORS) <= used, set(OPERATORS) - used


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_mutant_trains_one_batch(
    seed: str, proposals: dict[str, list[Mutation]], one_batch: CandidateData
) -> None:
    parent = SEEDS[seed]
    ctx = analyse(parent, SHAPE, 10)
    failures = []
    for mutation in proposals[seed]:
        child = apply_mutation(parent, mutation, context=ctx)  # every proposal must apply
        try:
            _train_one_batch(child, one_batch)
        except Exception as err:  # noqa: BLE001 - collected, reported together
            failure, message = classify_exception(err, "training")
            failures.append(f"{mutation.describe()}: {failure}: {message}")
    assert not failures, "\n".join(failures)


def test_drop_block_takes_the_activation_it_would_double() -> None:
    """vgg_small's `Conv, ReLU(inplace), Conv, ReLU(inplace)` minus the second Conv keeps one
    ReLU (two in-place ReLUs in a row fail in backward)."""
    child = apply_mutation(SEEDS["vgg_small"], Mutation(op="drop_block", layer="block1.2"),
                           SHAPE, 10)
    block1 = child.split("self.block1 = nn.Sequential(", 1)[1].split(")\n", 1)[0]
    assert block1.count("nn.ReLU(inplace=True)") == 1
    assert block1.count("nn.Conv2d(") == 1
