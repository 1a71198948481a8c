"""A hand-written reference for bench/search_quality.py: three conv-BN-ReLU blocks with
max pooling and one linear layer on the flattened features (about 34 k parameters on
digits), written once by a person in the LEMUR form, with no search: the line a search
should clear. (With global average pooling instead of the flatten, the same net scores
0.40 on the one-epoch proxy: 34 SGD steps are too few for it.)"""

import torch
from torch import nn


def supported_hyperparameters():
    """The keys of `prm` this model reads."""
    return {"lr", "momentum"}


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.features = nn.Sequential(_block(in_shape[1], 16), _block(16, 32), _block(32, 64))
        self.fc = nn.Linear(64 * (in_shape[2] // 8) * (in_shape[3] // 8), out_shape[0])

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))

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
