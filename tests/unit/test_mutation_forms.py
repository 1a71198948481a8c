"""Files written in other styles: AlexNet-like LEMUR, nested blocks, concat + gating."""

from __future__ import annotations

import pytest

from nasloop.agents.mutation import Mutation, MutationError, applicable_mutations, apply_mutation
from nasloop.agents.mutation.context import analyse
from nasloop.agents.mutation.model import build

ALEX = """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum', 'dropout'}


class Net(nn.Module):
    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            outputs = self(inputs)
            loss = self.criteria[0](outputs, labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3)
            self.optimizer.step()

    def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
        super().__init__()
        self.device = device
        dropout: float = prm['dropout']
        self.features = nn.Sequential(
            nn.Conv2d(in_shape[1], 32, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(32, 64, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 96, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(96, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(64 * 6 * 6, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(512, 512),
            nn.ReLU(inplace=True),
            nn.Linear(512, out_shape[0]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x
"""

NESTED = """import torch
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.stem = nn.Conv2d(in_shape[1], 16, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(16), BasicBlock(16))
        self.head = nn.Conv2d(16, 24, 1)
        self.fc = nn.Linear(24, out_shape[0])

    def forward(self, x):
        x = self.layer1(torch.relu(self.stem(x)))
        x = torch.relu(self.head(x))
        x = x.mean(dim=(2, 3))
        return self.fc(x)
"""

RESNET = """import torch
import torch.nn as nn


def supported_hyperparameters():
    return {'lr', 'momentum'}


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False
        )
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)  # residual
        return torch.relu(out)


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.conv1 = nn.Conv2d(in_shape[1], 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
        self.linear = nn.Linear(32, out_shape[0])

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.layer2(self.layer1(out))
        out = nn.functional.adaptive_avg_pool2d(out, 1)
        out = out.view(out.size(0), -1)
        return self.linear(out)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm['lr'], momentum=prm['momentum'])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            self.optimizer.step()
"""

CONCAT = """import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 5, padding=2)
        self.c = nn.Conv2d(16, 16, 3, padding=1)
        self.se = nn.Linear(16, 16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        y = torch.cat([F.relu(self.a(x)), F.relu(self.b(x))], 1)
        y = self.c(y)
        s = torch.sigmoid(self.se(y.mean((2, 3))))
        y = y * s[:, :, None, None]
        return self.fc(F.adaptive_avg_pool2d(y, 1).flatten(1))
"""


@pytest.mark.parametrize(
    "code", [ALEX, NESTED, RESNET, CONCAT], ids=["alex", "nested", "resnet", "concat"]
)
def test_every_proposal_applies_and_runs(code: str) -> None:
    ctx = analyse(code)
    proposals = applicable_mutations(code)
    assert len(proposals) > 10
    for mutation in proposals:
        child = apply_mutation(code, mutation, context=ctx)
        build(child, ctx.in_shape, 10)


def test_alexnet_style_widths_reach_the_flattened_classifier() -> None:
    ctx = analyse(ALEX)  # too deep for 32x32: the probe settles on 3x64x64
    assert ctx.form == "lemur" and ctx.in_shape == (2, 3, 64, 64)
    child = apply_mutation(ALEX, Mutation(op="widen", layer="features.8", args={"factor": 2}))
    assert "nn.Conv2d(96, 128, kernel_size=3, padding=1)," in child
    assert "nn.Linear(128 * 6 * 6, 512)," in child
    child = apply_mutation(ALEX, Mutation(op="dropout", args={"p": 0.1}))
    assert child.count("nn.Dropout(p=0.1)") == 2


def test_helper_class_layers_are_edited_in_their_class() -> None:
    # all four BasicBlocks share one constructor call per layer: edits apply to every object
    proposals = {m.describe() for m in applicable_mutations(RESNET)}
    assert "kernel(layer=BasicBlock.conv2, size=5)" in proposals
    child = apply_mutation(RESNET, Mutation(op="add_block", layer="BasicBlock.conv2"))
    assert "nn.Sequential(nn.ReLU(), nn.Conv2d(planes, planes, kernel_size=3, padding=1))" in child
    assert "out = self.bn2(self.conv2_block(self.conv2(out)))" in child
    child = apply_mutation(
        RESNET, Mutation(op="norm_swap", layer="layer2.1.bn1", args={"kind": "group"})
    )
    assert "self.bn1 = nn.GroupNorm(8, planes)" in child
    # widths: the blocks are built with different widths; the literals they come from
    # change instead (the stem and layer1's blocks share the width 16 of their calls)
    child = apply_mutation(RESNET, Mutation(op="widen", layer="conv1", args={"factor": 2}))
    assert "self.layer1 = nn.Sequential(BasicBlock(32, 32), BasicBlock(32, 32))" in child
    assert "self.layer2 = nn.Sequential(BasicBlock(32, 32, 2), BasicBlock(32, 32))" in child
    assert "self.bn1 = nn.BatchNorm2d(32)" in child
    with pytest.raises(MutationError, match="shared by every BasicBlock"):
        apply_mutation(RESNET, Mutation(op="widen", layer="BasicBlock.conv1", args={"factor": 2}))


def test_a_width_shared_by_identical_blocks_changes_in_the_class() -> None:
    child = apply_mutation(NESTED, Mutation(op="widen", layer="stem", args={"factor": 2}))
    lines = {line.strip() for line in child.splitlines()}
    # the blocks' width is their argument: the literal changes, the class keeps `c`
    assert "self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)" in lines
    assert "self.layer1 = nn.Sequential(BasicBlock(32), BasicBlock(32))" in lines
    assert "self.head = nn.Conv2d(32, 24, 1)" in lines
    child = apply_mutation(NESTED, Mutation(op="widen", layer="head", args={"factor": 2}))
    assert "self.fc = nn.Linear(48, out_shape[0])" in child


def test_concatenated_and_gated_channels_are_refused() -> None:
    for layer in ("a", "b", "c"):
        with pytest.raises(MutationError, match="cannot change"):
            apply_mutation(CONCAT, Mutation(op="widen", layer=layer, args={"factor": 2}))
