"""A dataset's splits on disk in two halves: what a candidate may see (`inputs.npz`: the
training split, validation and test inputs) and what scores it (`labels.npz`).

Written on the trusted side (`nasloop.sandbox.prepared`); the sandbox reads `inputs.npz`
only, the labels never reach a process that runs candidate code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

    from nasloop.data.loaders import DatasetSplits

INPUTS, LABELS = "inputs.npz", "labels.npz"


@dataclass(frozen=True)
class CandidateData:
    """What the candidate's process holds: training images and labels, and the inputs of
    the validation and test splits (their labels stay outside)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    test_x: torch.Tensor
    in_shape: tuple[int, int, int, int]
    num_classes: int


def candidate_view(splits: DatasetSplits) -> CandidateData:
    """The candidate-visible part of in-memory splits (trusted callers: tests, benches)."""
    s = splits
    return CandidateData(s.name, s.train_x, s.train_y, s.val_x, s.test_x, s.in_shape,
                         s.num_classes)


def write_split_files(splits: DatasetSplits, sandbox_dir: Path, trusted_dir: Path) -> None:
    """Write the two halves of `splits`."""
    s = splits
    np.savez(sandbox_dir / INPUTS, train_x=s.train_x.numpy(), train_y=s.train_y.numpy(),
             val_x=s.val_x.numpy(), test_x=s.test_x.numpy(),
             in_shape=np.array(s.in_shape), num_classes=np.array(s.num_classes),
             name=np.array(s.name))
    np.savez(trusted_dir / LABELS, val=s.val_y.numpy(), test=s.test_y.numpy(),
             num_classes=np.array(s.num_classes))


def read_candidate_data(sandbox_dir: str | Path) -> CandidateData:
    """The candidate-visible half, as torch tensors (inside the sandbox)."""
    import torch

    with np.load(Path(sandbox_dir) / INPUTS, allow_pickle=False) as f:
        return CandidateData(
            str(f["name"]), torch.from_numpy(f["train_x"]), torch.from_numpy(f["train_y"]),
            torch.from_numpy(f["val_x"]), torch.from_numpy(f["test_x"]),
            tuple(int(v) for v in f["in_shape"]), int(f["num_classes"]))  # type: ignore[arg-type]


def read_labels(trusted_dir: str | Path) -> dict[str, np.ndarray]:
    """The labels, by split name (`val`, `test`) (trusted side only)."""
    with np.load(Path(trusted_dir) / LABELS, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
