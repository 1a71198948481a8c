"""The restoration data on disk, in two halves (written on the trusted side).

`restore_inputs.npz` (the sandbox sees it): the degraded training images, their training
targets (clean, or the distillation mix), the degraded validation images and the shape.
`restore_targets.npz` (trusted only): the clean validation images. With distillation, the
teacher's cached outputs (`teacher_outputs.npz`) and figures (`teacher.json`) are trusted too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

    from nasloop.tasks.restoration.settings import RestorationData

INPUTS, TARGETS = "restore_inputs.npz", "restore_targets.npz"
TEACHER_OUTPUTS, TEACHER = "teacher_outputs.npz", "teacher.json"


@dataclass(frozen=True)
class RestorationInputs:
    """What the candidate's process holds."""

    train_x: torch.Tensor  # degraded
    train_y: torch.Tensor  # training targets (clean or distilled)
    val_x: torch.Tensor  # degraded; the clean images stay outside
    in_shape: tuple[int, int, int, int]


@dataclass(frozen=True)
class CleanSplits:
    """The clean images in [0, 1] and their degraded copies (trusted side)."""

    train: np.ndarray
    val: np.ndarray
    train_x: np.ndarray
    val_x: np.ndarray


def clean_splits(spec: RestorationData, seed: int) -> CleanSplits:
    """Load the dataset, map it to [0, 1] by the training split's range, degrade it."""
    from nasloop.data.loaders import load_dataset
    from nasloop.tasks.restoration.degrade import degrade, unit_range

    s = load_dataset(spec.dataset, spec.data_dir, seed, channels=spec.channels,
                     size=spec.image_size)
    tx, vx = s.train_x.numpy(), s.val_x.numpy()
    lo, hi = float(tx.min()), float(tx.max())
    train, val = unit_range(tx, lo, hi), unit_range(vx, lo, hi)
    return CleanSplits(train, val, degrade(train, spec.sigma, spec.blur, seed, "train"),
                       degrade(val, spec.sigma, spec.blur, seed, "val"))


def write_files(spec: RestorationData, seed: int, sandbox_dir: Path, trusted_dir: Path) -> None:
    """Prepare one job's data: the two halves (and the teacher, when distilling)."""
    from nasloop.tasks.restoration.degrade import distill_targets

    d = clean_splits(spec, seed)
    targets = d.train
    if spec.distill:
        from nasloop.tasks.restoration.teacher import fit_teacher

        taught = fit_teacher(spec, seed, d)
        np.savez(trusted_dir / TEACHER_OUTPUTS, train=taught.train, val=taught.val)
        (trusted_dir / TEACHER).write_text(json.dumps(taught.figures, indent=2) + "\n")
        targets = distill_targets(taught.train, d.train, spec.alpha)
    np.savez(sandbox_dir / INPUTS, train_x=d.train_x, train_y=targets, val_x=d.val_x,
             in_shape=np.array((1, *d.train.shape[1:])))
    np.savez(trusted_dir / TARGETS, val=d.val)


def read_inputs(sandbox_dir: str | Path) -> RestorationInputs:
    """The candidate-visible half as torch tensors (inside the sandbox)."""
    import torch

    with np.load(Path(sandbox_dir) / INPUTS, allow_pickle=False) as f:
        return RestorationInputs(torch.from_numpy(f["train_x"]), torch.from_numpy(f["train_y"]),
                                 torch.from_numpy(f["val_x"]),
                                 tuple(int(v) for v in f["in_shape"]))  # type: ignore[arg-type]


def read_targets(trusted_dir: str | Path) -> np.ndarray:
    """The clean validation images (trusted side only)."""
    with np.load(Path(trusted_dir) / TARGETS, allow_pickle=False) as f:
        return f["val"]


def read_teacher(trusted_dir: str | Path) -> dict[str, Any] | None:
    """The teacher's figures (PSNR, SSIM, params), None without distillation."""
    path = Path(trusted_dir) / TEACHER
    return json.loads(path.read_text()) if path.exists() else None
