"""The recipe vocabulary and the torch side: NLL on log-softmax, NGL, label smoothing,
the optimizers' construction."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from nasloop.agents.mutation.spec import MutationError
from nasloop.tasks.recipes.losses import INJECTED, NGL_SOURCE, is_canonical
from nasloop.tasks.recipes.runtime import make_loss, make_optimizer
from nasloop.tasks.recipes.vocab import (
    GRID_LOSSES,
    LOSS_KINDS,
    LOSSES,
    OPTIMIZERS,
    Recipe,
    grid,
)


def test_the_grid_is_the_papers_three_losses_by_six_optimizers() -> None:
    recipes = grid()
    assert len(recipes) == len(set(recipes)) == 18
    assert GRID_LOSSES == ("cross_entropy", "nll", "ngl")
    assert set(OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"}
    assert "label_smoothing" in LOSSES and len(grid(LOSSES)) == 24
    assert {k.injected for k in LOSS_KINDS.values() if k.injected} == set(INJECTED)


def test_unknown_kinds_are_one_line_errors() -> None:
    with pytest.raises(MutationError, match="unknown loss kind 'mse'"):
        Recipe("mse", "sgd")
    with pytest.raises(MutationError, match="unknown optimizer kind 'lion'"):
        make_optimizer("lion", [torch.zeros(1, requires_grad=True)], 0.1)


@pytest.mark.parametrize("seed", range(5))
def test_nll_on_log_softmax_equals_cross_entropy(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    classes = 2 + seed * 3
    logits = torch.randn(16, classes, generator=gen) * (1 + seed)
    target = torch.randint(0, classes, (16,), generator=gen)
    nll = make_loss("nll")(logits, target)
    assert torch.allclose(nll, F.cross_entropy(logits, target), atol=1e-6)
    assert torch.allclose(nll, make_loss("cross_entropy")(logits, target), atol=1e-6)


def _ngl_by_hand(probs: list[float], target: int) -> float:
    terms = [
        math.exp(2.4092 - p - p * (1.0 if c == target else 0.0)) - math.cos(math.cos(math.sin(p)))
        for c, p in enumerate(probs)
    ]
    return sum(terms) / len(terms)


def test_ngl_matches_the_formula_worked_out_by_hand() -> None:
    # two classes, equal logits: p = (0.5, 0.5); target 0
    expected = (math.exp(1.4092) + math.exp(1.9092)) / 2 - math.cos(math.cos(math.sin(0.5)))
    assert _ngl_by_hand([0.5, 0.5], 0) == pytest.approx(expected)
    loss = make_loss("ngl")(torch.zeros(1, 2, dtype=torch.float64), torch.tensor([0]))
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    # three classes, a batch of two: exp(logits) = (1, 2, 7) and (3, 1, 1)
    logits = torch.tensor([[0.0, math.log(2.0), math.log(7.0)],
                           [math.log(3.0), 0.0, 0.0]], dtype=torch.float64)
    target = torch.tensor([2, 0])
    rows = [_ngl_by_hand([0.1, 0.2, 0.7], 2), _ngl_by_hand([0.6, 0.2, 0.2], 0)]
    got = make_loss("ngl")(logits, target)
    assert float(got) == pytest.approx(sum(rows) / 2, rel=1e-12)


def test_ngl_is_finite_with_non_zero_gradients() -> None:
    gen = torch.Generator().manual_seed(0)
    for scale in (1.0, 50.0):
        logits = (torch.randn(8, 10, generator=gen) * scale).requires_grad_()
        target = torch.randint(0, 10, (8,), generator=gen)
        loss = make_loss("ngl")(logits, target)
        assert torch.isfinite(loss)
        loss.backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
        assert logits.grad.abs().sum() > 0


def test_ngl_decreases_when_the_target_gets_more_probable() -> None:
    target = torch.tensor([0])
    low = make_loss("ngl")(torch.tensor([[0.0, 1.0, 1.0]]), target)
    high = make_loss("ngl")(torch.tensor([[3.0, 1.0, 1.0]]), target)
    assert high < low


def test_label_smoothing_is_cross_entropy_against_smoothed_targets() -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 4, generator=gen, dtype=torch.float64)
    target = torch.randint(0, 4, (6,), generator=gen)
    logp = torch.log_softmax(logits, 1)
    smooth = torch.full((6, 4), 0.1 / 4, dtype=torch.float64)
    smooth[torch.arange(6), target] += 0.9
    expected = -(smooth * logp).sum(1).mean()
    assert torch.allclose(make_loss("label_smoothing")(logits, target), expected)
    assert not torch.allclose(make_loss("cross_entropy")(logits, target), expected)


@pytest.mark.parametrize("kind", OPTIMIZERS)
def test_make_optimizer_sets_lr_and_momentum_only_for_sgd(kind: str) -> None:
    weight = torch.nn.Parameter(torch.ones(3))
    opt = make_optimizer(kind, [weight], lr=0.05, momentum=0.8)
    group = opt.param_groups[0]
    assert group["lr"] == 0.05
    assert type(opt).__name__.lower() == kind
    if kind == "sgd":
        assert group["momentum"] == 0.8
    else:
        assert group.get("momentum", 0) == 0
    (weight * torch.arange(3.0)).sum().backward()
    opt.step()
    assert not torch.equal(weight.detach(), torch.ones(3))


def test_canonical_check_ignores_layout_but_not_the_formula() -> None:
    assert is_canonical("NGLLoss", NGL_SOURCE)
    relaid = NGL_SOURCE.replace("    def forward", "    # a comment\n    def forward")
    assert is_canonical("NGLLoss", relaid)
    assert not is_canonical("NGLLoss", NGL_SOURCE.replace("2.4092", "2.5"))
    assert not is_canonical("NGLLoss", "class NGLLoss(:")
