"""Channel changes propagate to every consumer; impossible ones are refused with a reason."""

from __future__ import annotations

import pytest

from nasloop.agents.mutation import Mutation, MutationError, applicable_mutations, apply_mutation
from nasloop.agents.mutation.context import analyse
from nasloop.agents.mutation.model import build
from nasloop.tasks.image_classification.seeds import list_seeds

SEEDS = list_seeds()

BARE = '''
import torch
from torch import nn


class Net(nn.Module):
    """A bare-form model: no constructor arguments, 1x28x28 input."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),  # stem
            nn.GroupNorm(4, 8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise
            nn.Conv2d(8, 12, 1),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(12 * 14 * 14, 10)

    def forward(self, x):
        x = self.features(x)
        return self.head(x.view(x.size(0), -1))
'''

FIXED_VIEW = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.conv = nn.Conv2d(in_shape[1], 4, 3, padding=1)
        self.fc = nn.Linear(4 * 32 * 32, out_shape[0])

    def forward(self, x):
        return self.fc(self.conv(x).view(-1, 4096))
"""

UNTRACEABLE = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.conv = nn.Conv2d(in_shape[1], 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, out_shape[0])

    def forward(self, x):
        x = self.act(self.conv(x))
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            x = x * 2
        return self.fc(x.mean((2, 3)))
"""


def _lines(code: str) -> set[str]:
    return {line.strip() for line in code.splitlines()}


def test_residual_adds_tie_the_stem_and_both_block_outputs() -> None:
    child = apply_mutation(
        SEEDS["resnet_small"], Mutation(op="widen", layer="conv1b", args={"factor": 2})
    )
    lines = _lines(child)
    assert "self.stem = nn.Conv2d(channels, 32, kernel_size=3, padding=1, bias=False)" in lines
    assert "self.stem_bn = nn.BatchNorm2d(32)" in lines
    assert "self.conv1a = nn.Conv2d(32, 16, kernel_size=3, padding=1, bias=False)" in lines
    assert "self.conv1b = nn.Conv2d(16, 32, kernel_size=3, padding=1, bias=False)" in lines
    assert "self.bn1b = nn.BatchNorm2d(32)" in lines
    assert "self.bn1a = nn.BatchNorm2d(16)" in lines  # the inner width is its own group
    assert "self.down = nn.Conv2d(32, 32, kernel_size=3, stride=2, padding=1, bias=False)" in lines


def test_classifier_follows_the_last_stage_through_global_pooling() -> None:
    child = apply_mutation(
        SEEDS["resnet_small"], Mutation(op="narrow", layer="down", args={"factor": 0.5})
    )
    lines = _lines(child)
    assert "self.down_bn = nn.BatchNorm2d(16)" in lines
    assert "self.conv2b = nn.Conv2d(32, 16, kernel_size=3, padding=1, bias=False)" in lines
    assert "self.fc = nn.Linear(16, out_shape[0])" in lines


def test_flattened_classifier_scales_with_the_channels() -> None:
    child = apply_mutation(
        SEEDS["vgg_small"], Mutation(op="widen", layer="block2.2", args={"channels": 48})
    )
    assert "nn.Linear(48 * (height // 4) * (width // 4), out_shape[0])" in child
    lenet = apply_mutation(SEEDS["lenet"], Mutation(op="narrow", layer="fc1", args={"factor": 0.5}))
    assert "self.fc1 = nn.Linear(16 * (height // 4 - 2) * (width // 4 - 2), 60)" in lenet
    assert "self.fc2 = nn.Linear(60, 84)" in lenet


def test_spatial_changes_resize_the_flattened_classifier() -> None:
    child = apply_mutation(
        SEEDS["lenet"], Mutation(op="padding", layer="conv2", args={"padding": 2})
    )
    assert "self.conv2 = nn.Conv2d(6, 16, kernel_size=5, padding=2)" in child
    assert "self.fc1 = nn.Linear(1024, 120)" in child  # 16 x 8 x 8 instead of 16 x 6 x 6
    child = apply_mutation(SEEDS["lenet"], Mutation(op="stride", layer="conv1", args={"stride": 2}))
    assert "self.fc1 = nn.Linear(64, 120)" in child  # 16 x 2 x 2
    with pytest.raises(MutationError, match="padding 0 on conv1a"):
        apply_mutation(
            SEEDS["resnet_small"], Mutation(op="padding", layer="conv1a", args={"padding": 0})
        )


def test_bare_form_sequential_groupnorm_and_depthwise() -> None:
    assert analyse(BARE).in_shape == (2, 1, 28, 28) and analyse(BARE).form == "bare"
    child = apply_mutation(BARE, Mutation(op="widen", layer="features.0", args={"factor": 2}))
    assert "nn.Conv2d(1, 16, 3, padding=1),  # stem" in child
    assert "nn.GroupNorm(4, 16)," in child
    assert "nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise" in child
    assert "nn.Conv2d(16, 12, 1)," in child
    child = apply_mutation(BARE, Mutation(op="widen", layer="features.4", args={"channels": 20}))
    assert "self.head = nn.Linear(20 * 14 * 14, 10)" in child
    with pytest.raises(MutationError, match="GroupNorm|groups"):
        apply_mutation(BARE, Mutation(op="widen", layer="features.0", args={"channels": 10}))


def test_impossible_changes_are_refused_with_a_reason() -> None:
    with pytest.raises(MutationError, match="model output"):
        apply_mutation(SEEDS["lenet"], Mutation(op="widen", layer="fc3", args={"factor": 2}))
    with pytest.raises(MutationError, match="fixed size 4096"):
        apply_mutation(FIXED_VIEW, Mutation(op="widen", layer="conv", args={"factor": 2}))
    with pytest.raises(MutationError, match="padding would be -1"):
        apply_mutation(SEEDS["lenet"], Mutation(op="kernel", layer="conv2", args={"size": 3}))
    with pytest.raises(MutationError, match="not a convolution or linear"):
        apply_mutation(
            SEEDS["resnet_small"], Mutation(op="widen", layer="bn1a", args={"factor": 2})
        )
    with pytest.raises(MutationError, match="must match the size"):
        apply_mutation(
            SEEDS["resnet_small"], Mutation(op="stride", layer="conv1a", args={"stride": 2})
        )
    with pytest.raises(MutationError, match="maps"):
        apply_mutation(SEEDS["lenet"], Mutation(op="drop_block", layer="conv2"))
    refused = {m.describe() for m in applicable_mutations(SEEDS["resnet_small"])}
    assert "stride(layer=conv1a, stride=2)" not in refused
    assert not any(d.startswith("widen(layer=fc") for d in refused)


def test_untraceable_forward_is_analysed_by_the_shape_probe() -> None:
    found = {m.op for m in applicable_mutations(UNTRACEABLE)}
    assert {"widen", "activation"} <= found
    child = apply_mutation(UNTRACEABLE, Mutation(op="widen", layer="conv", args={"factor": 2}))
    assert "self.conv = nn.Conv2d(in_shape[1], 8, 3, padding=1)" in child
    assert "self.fc = nn.Linear(8, out_shape[0])" in child
    assert "# data-dependent control flow" in child
    child = apply_mutation(UNTRACEABLE, Mutation(op="activation", args={"kind": "GELU"}))
    assert "nn.GELU()" in child and "# data-dependent control flow" in child


@pytest.mark.parametrize(
    "code,reason",
    [
        ("def f(:\n", "does not parse"),
        ("import torch\n", "no top-level class Net"),
        ("import torch\nclass Net(torch.nn.Module):\n    pass\n", "no __init__"),
        (
            "import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.fc = torch.nn.Linear(3, 10)\n"
            "    def forward(self, x):\n        return self.fc(x)\n",
            "forward fails",
        ),
        (
            "import torch\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
            "        raise ValueError('boom')\n",
            "Net\\(\\) fails: ValueError: boom",
        ),
    ],
)
def test_files_it_cannot_handle_get_a_reason(code: str, reason: str) -> None:
    with pytest.raises(MutationError, match=reason):
        applicable_mutations(code)


def test_every_bare_mutation_runs() -> None:
    ctx = analyse(BARE)
    for mutation in applicable_mutations(BARE):
        build(apply_mutation(BARE, mutation, context=ctx), (2, 1, 28, 28), 10)
