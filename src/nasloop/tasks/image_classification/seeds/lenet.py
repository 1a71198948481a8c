"""LeNet-style seed: two 5x5 convolutions with max pooling, then three linear layers.

A deliberately plain baseline (no normalisation, no dropout, ReLU, SGD) so that a search
has room to improve it. Written for nasloop in the LEMUR form; works for any number of
input channels and classes on 32x32 inputs (and any size divisible by 4, at least 16).
"""

import torch
import torch.nn.functional as F
from torch import nn


def supported_hyperparameters():
    """The keys of `prm` this model reads."""
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        # Feature extractor: 5x5 conv (padded) -> pool -> 5x5 conv (valid) -> pool.
        self.conv1 = nn.Conv2d(channels, 6, kernel_size=5, padding=2)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.pool2 = nn.MaxPool2d(2)
        # Classifier on the flattened 16 x (H/4 - 2) x (W/4 - 2) feature map.
        self.fc1 = nn.Linear(16 * (height // 4 - 2) * (width // 4 - 2), 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, out_shape[0])

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)  # logits

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
