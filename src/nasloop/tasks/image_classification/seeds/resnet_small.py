"""ResNet-style seed: a stem, two residual stages joined by a strided convolution.

Each residual stage is conv-BN-ReLU-conv-BN plus the identity, then ReLU; the widths of
the stem and of both convolutions' outputs in a stage are tied by the residual adds.
Global average pooling feeds one linear classifier. Written for nasloop in the LEMUR
form; generic in input channels, classes and input size (at least 8x8).
"""

import torch
from torch import nn


def supported_hyperparameters():
    """The keys of `prm` this model reads."""
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels = in_shape[1]
        self.act = nn.ReLU()
        # Stem: 3x3 conv, then halve the resolution.
        self.stem = nn.Conv2d(channels, 16, kernel_size=3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2)
        # Stage 1 (16 channels): residual pair.
        self.conv1a = nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False)
        self.bn1a = nn.BatchNorm2d(16)
        self.conv1b = nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False)
        self.bn1b = nn.BatchNorm2d(16)
        # Transition: strided conv doubles the channels, halves the resolution.
        self.down = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1, bias=False)
        self.down_bn = nn.BatchNorm2d(32)
        # Stage 2 (32 channels): residual pair.
        self.conv2a = nn.Conv2d(32, 32, kernel_size=3, padding=1, bias=False)
        self.bn2a = nn.BatchNorm2d(32)
        self.conv2b = nn.Conv2d(32, 32, kernel_size=3, padding=1, bias=False)
        self.bn2b = nn.BatchNorm2d(32)
        # Head: global average pool + linear classifier.
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, out_shape[0])

    def forward(self, x):
        x = self.pool(self.act(self.stem_bn(self.stem(x))))
        y = self.act(self.bn1a(self.conv1a(x)))
        x = self.act(x + self.bn1b(self.conv1b(y)))  # residual add
        x = self.act(self.down_bn(self.down(x)))
        y = self.act(self.bn2a(self.conv2a(x)))
        x = self.act(x + self.bn2b(self.conv2b(y)))  # residual add
        x = torch.flatten(self.gap(x), 1)
        return self.fc(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        self.train()
        for inputs, labels in train_data:
            inputs, labels = inputs.to(self.device), labels.to(self.device)
            self.optimizer.zero_grad()
            loss = self.criteria[0](self(inputs), labels)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 3.0)
            self.optimizer.step()
