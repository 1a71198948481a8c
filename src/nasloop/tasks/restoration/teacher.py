"""The distillation teacher: trained once per data key on the trusted side (the prepare
subprocess), its outputs cached next to the prepared data.

The built-in teacher is a wider, deeper residual denoiser (it need not respect the hardware
constraints); a user's teacher is a model file under the candidate contract, the user's own
code, trained here like the built-in one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nasloop.tasks.restoration.data import CleanSplits
    from nasloop.tasks.restoration.settings import RestorationData

BUILTIN = "builtin"
BUILTIN_TEACHER = '''
import torch
from torch import nn


class Net(nn.Module):
    """Residual denoiser: 64 channels, 8 convolutions."""

    def __init__(self, in_shape, out_shape):
        super().__init__()
        c, w = in_shape[1], 64
        layers = [nn.Conv2d(c, w, 3, padding=1), nn.ReLU()]
        for _ in range(6):
            layers += [nn.Conv2d(w, w, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(w, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)
'''


def teacher_source(teacher: str) -> str:
    """The teacher's code: the built-in one or the named file's."""
    return BUILTIN_TEACHER if teacher == BUILTIN else Path(teacher).expanduser().read_text()


def teacher_sha(teacher: str) -> str | None:
    """A user teacher file's content hash (None for the built-in)."""
    if teacher == BUILTIN:
        return None
    return hashlib.sha256(teacher_source(teacher).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Taught:
    """The trained teacher's outputs on the degraded splits and its figures."""

    train: np.ndarray
    val: np.ndarray
    figures: dict[str, Any]


def fit_teacher(spec: RestorationData, seed: int, d: CleanSplits) -> Taught:
    """Train the teacher on the degraded training images against the clean ones."""
    import torch

    from nasloop.tasks.image_classification.checks import load_module
    from nasloop.tasks.restoration.contract import detect_form
    from nasloop.tasks.restoration.metrics import psnr, ssim
    from nasloop.tasks.restoration.trainer import build_net, restore, train_net

    code = teacher_source(spec.teacher)
    torch.manual_seed(seed)
    module = load_module(code)
    in_shape = (spec.batch_size, *d.train.shape[1:])
    model = build_net(module, detect_form(code), code, in_shape, {"lr": spec.lr}, "cpu")
    train_net(model, torch.from_numpy(d.train_x), torch.from_numpy(d.train),
              epochs=spec.teacher_epochs, lr=spec.lr, batch_size=spec.batch_size, seed=seed,
              device="cpu")
    train = restore(model, torch.from_numpy(d.train_x), "cpu")
    val = restore(model, torch.from_numpy(d.val_x), "cpu")
    shown = np.clip(val, 0, 1)
    figures = {"teacher": spec.teacher, "params": sum(p.numel() for p in model.parameters()),
               "val_psnr": psnr(shown, d.val), "val_ssim": ssim(shown, d.val),
               "epochs": spec.teacher_epochs}
    return Taught(train, val, figures)
