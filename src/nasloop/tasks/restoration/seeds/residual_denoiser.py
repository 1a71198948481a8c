"""Plain residual denoiser: three 3x3 convolutions with ReLU, the input added back.

Uses only Conv2d (3x3), ReLU and add; any number of channels, any image size.
"""

import torch
from torch import nn


def supported_hyperparameters():
    """The keys of `prm` this model reads (the trainer owns the optimizer)."""
    return {"lr"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        channels = in_shape[1]
        self.head = nn.Conv2d(channels, 16, kernel_size=3, padding=1)
        self.act1 = nn.ReLU()
        self.body = nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.act2 = nn.ReLU()
        self.tail = nn.Conv2d(16, out_shape[0], kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.head(x))
        y = self.act2(self.body(y))
        return x + self.tail(y)  # predict the noise, subtract it
