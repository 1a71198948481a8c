"""VGG-style seed: two blocks of two 3x3 convolutions, each block ending in a max pool.

Plain on purpose (no normalisation, ReLU, SGD): the search should find room to improve
it. Written for nasloop in the LEMUR form; generic in input channels and classes, for
inputs whose height and width are divisible by 4.
"""

import torch
from torch import nn


def supported_hyperparameters():
    """The keys of `prm` this model reads."""
    return {"lr", "momentum", "dropout"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels, height, width = in_shape[1], in_shape[2], in_shape[3]
        # Block 1: full resolution, 16 channels.
        self.block1 = nn.Sequential(
            nn.Conv2d(channels, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        # Block 2: half resolution, 32 channels.
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        # Classifier on the flattened 32 x H/4 x W/4 map.
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(prm["dropout"]),
            nn.Linear(32 * (height // 4) * (width // 4), out_shape[0]),
        )

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        return self.classifier(x)

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
