"""The built-in seeds: shipped as package data, LEMUR form, generic in channels and classes."""

from __future__ import annotations

import types

import pytest
import torch

from nasloop.tasks.image_classification.seeds import list_seeds, seed_source

PRM = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "batch": 32}


def _load(source: str) -> types.ModuleType:
    module = types.ModuleType("seed")
    exec(compile(source, "seed", "exec"), module.__dict__)
    return module


def test_list_seeds_is_sorted_and_complete() -> None:
    seeds = list_seeds()
    assert list(seeds) == sorted(seeds)
    assert {"lenet", "resnet_small", "vgg_small"} <= set(seeds)
    assert seed_source("lenet") == seeds["lenet"]
    with pytest.raises(KeyError, match="known"):
        seed_source("nope")


@pytest.mark.parametrize("name", sorted(list_seeds()))
@pytest.mark.parametrize("channels,classes", [(1, 10), (3, 10), (3, 7)])
def test_seed_builds_and_forwards(name: str, channels: int, classes: int) -> None:
    module = _load(list_seeds()[name])
    assert {"lr", "momentum"} <= set(module.supported_hyperparameters())
    net = module.Net((2, channels, 32, 32), (classes,), PRM, "cpu")
    assert 5_000 < sum(p.numel() for p in net.parameters()) < 300_000
    assert net(torch.randn(2, channels, 32, 32)).shape == (2, classes)


@pytest.mark.parametrize("name", sorted(list_seeds()))
def test_seed_learns_one_batch_with_its_own_setup(name: str) -> None:
    module = _load(list_seeds()[name])
    torch.manual_seed(0)
    net = module.Net((8, 1, 32, 32), (10,), PRM, "cpu")
    net.train_setup(PRM)
    assert isinstance(net.optimizer, torch.optim.SGD)
    inputs, labels = torch.randn(8, 1, 32, 32), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in net.parameters()]
    net.learn([(inputs, labels)])
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
