"""Small U-Net-like denoiser: one strided 3x3 convolution down, nearest upsampling back,
a skip connection by addition and the input added back.

Uses only Conv2d (3x3), ReLU, Upsample(mode="nearest") and add; even image sides.
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
        self.enc = nn.Conv2d(channels, 16, kernel_size=3, padding=1)
        self.act1 = nn.ReLU()
        self.down = nn.Conv2d(16, 32, kernel_size=3, stride=2, padding=1)
        self.act2 = nn.ReLU()
        self.mid = nn.Conv2d(32, 32, kernel_size=3, padding=1)
        self.act3 = nn.ReLU()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.fuse = nn.Conv2d(32, 16, kernel_size=3, padding=1)
        self.act4 = nn.ReLU()
        self.out = nn.Conv2d(16, out_shape[0], kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.act1(self.enc(x))
        m = self.act3(self.mid(self.act2(self.down(e))))
        u = self.act4(self.fuse(self.up(m)))
        return x + self.out(u + e)
