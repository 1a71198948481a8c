"""Every recipe of the grid (and label smoothing) on every built-in seed: the rewrite passes
the dry check, trains one batch, reads back, and declares exactly the keys it reads."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch

from nasloop.data.loaders import DatasetSplits
from nasloop.tasks.image_classification.checks import build_model, load_module, model_prm
from nasloop.tasks.image_classification.prm import prm_table
from nasloop.tasks.image_classification.seeds import list_seeds
from nasloop.tasks.image_classification.settings import TrainSettings
from nasloop.tasks.image_classification.trainer import dry_check, train_lemur
from nasloop.tasks.recipes.ops import recipe_of, with_recipe
from nasloop.tasks.recipes.runtime import make_loss, make_optimizer
from nasloop.tasks.recipes.vocab import LOSSES, Recipe, grid

SEEDS = list_seeds()
IN_SHAPE = (8, 1, 32, 32)  # digits as the sandbox hands it: 1x32x32
CLASSES = 10


class RecordingPrm(dict[str, Any]):
    """A prm dict that records every key the model reads."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def _splits() -> DatasetSplits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(IN_SHAPE, generator=gen)
    y = torch.randint(0, CLASSES, (IN_SHAPE[0],), generator=gen)
    return DatasetSplits("random", x, y, x, y, x, y, (1, *IN_SHAPE[1:]), CLASSES)  # type: ignore[arg-type]


@pytest.mark.parametrize("recipe", grid(LOSSES), ids=lambda r: r.name)
@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_rewrite_checks_trains_and_reads_back(seed: str, recipe: Recipe) -> None:
    code = with_recipe(SEEDS[seed], recipe.loss, recipe.optimizer)
    assert recipe_of(code) == recipe
    torch.set_num_threads(1)
    assert dry_check(code, IN_SHAPE, CLASSES, 10**7).form == "lemur"

    torch.manual_seed(0)
    module = load_module(code)
    prm = RecordingPrm(model_prm(module, "lemur", prm_table(0.01, 0.9, IN_SHAPE[0], 1)))
    model: Any = build_model(module, "lemur", code, IN_SHAPE, CLASSES, prm, "cpu")
    before = [p.detach().clone() for p in model.parameters()]
    splits = _splits()
    settings = TrainSettings(batch_size=IN_SHAPE[0], epochs=1)
    assert train_lemur(model, splits, settings, 0, prm) == 1  # one optimizer step, guarded
    assert prm.read == set(module.supported_hyperparameters())
    assert ("momentum" in prm.read) == (recipe.optimizer == "sgd")
    assert any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(),
                                                                strict=True))
    criteria = model.criteria[0] if isinstance(model.criteria, tuple) else model.criteria
    model.train()
    with torch.no_grad():
        loss = criteria(model(splits.train_x), splits.train_y)
    assert math.isfinite(loss.item())
    expected_class = {"ngl": "NGLLoss", "nll": "LogSoftmaxNLLLoss"}.get(recipe.loss)
    assert ("class NGLLoss" in code) == (expected_class == "NGLLoss")
    assert ("class LogSoftmaxNLLLoss" in code) == (expected_class == "LogSoftmaxNLLLoss")
    assert type(model.optimizer).__name__.lower() == recipe.optimizer


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_every_rewrite_returns_to_the_seed_byte_for_byte(seed: str) -> None:
    original = SEEDS[seed]
    for recipe in grid(LOSSES):
        rewritten = with_recipe(original, recipe.loss, recipe.optimizer)
        assert with_recipe(rewritten, "cross_entropy", "sgd") == original


BARE = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_shape[1], 4, 3), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, out_shape[0]))

    def forward(self, x):
        return self.body(x)
"""


@pytest.mark.parametrize("recipe", grid(), ids=lambda r: r.name)
def test_a_bare_file_trains_with_the_runtime_loss_and_optimizer(recipe: Recipe) -> None:
    code = with_recipe(BARE, recipe.loss, recipe.optimizer)
    assert "class NGLLoss" not in code and "class LogSoftmaxNLLLoss" not in code
    assert dry_check(code, IN_SHAPE, CLASSES, 10**7).form == "bare"
    assert recipe_of(code) == recipe
    torch.manual_seed(0)
    model = build_model(load_module(code), "bare", code, IN_SHAPE, CLASSES, {}, "cpu")
    loss_fn = make_loss(recipe.loss)
    opt = make_optimizer(recipe.optimizer, model.parameters(), lr=0.01, momentum=0.9)
    splits = _splits()
    before = [p.detach().clone() for p in model.parameters()]
    loss_fn(model(splits.train_x), splits.train_y).backward()
    opt.step()
    assert any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(),
                                                                strict=True))
    with torch.no_grad():
        assert math.isfinite(loss_fn(model(splits.train_x), splits.train_y).item())
