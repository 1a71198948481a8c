"""Datasets as in-memory tensors with a fixed-seed train/val/test split, in the shape the
dataset table (`nasloop.data.table`) gives.

`digits` (scikit-learn, ships offline) is the default. The torchvision datasets and
ImageFolder are imported lazily.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from nasloop.data.table import DATASETS, DatasetError, DatasetInfo, dataset_info, served

DEFAULT_DATA_DIR = "~/.cache/nasloop/data"


@dataclass(frozen=True)
class DatasetSplits:
    """Train/val/test tensors. Images are float32 (N, C, H, W), labels int64 (N,).

    `in_shape` is `(1, C, H, W)`: the batch dimension is 1 here; the trainer hands the
    candidate `(batch_size, C, H, W)`. The test split is never used for selection.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    in_shape: tuple[int, int, int, int]
    num_classes: int


def _split(x: torch.Tensor, y: torch.Tensor, seed: int, name: str, num_classes: int,
           fractions: tuple[float, float] = (0.6, 0.2)) -> DatasetSplits:
    import torch

    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=gen)
    n_train = int(len(y) * fractions[0])
    n_val = int(len(y) * fractions[1])
    tr, va, te = order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]
    return _normalised(name, x[tr], y[tr], x[va], y[va], x[te], y[te], num_classes)


def _normalised(name: str, tx: torch.Tensor, ty: torch.Tensor, vx: torch.Tensor,
                vy: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor,
                num_classes: int) -> DatasetSplits:
    """Standardise every split with the training split's per-channel mean and std."""
    mean = tx.mean(dim=(0, 2, 3), keepdim=True)
    std = tx.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)

    def norm(t: torch.Tensor) -> torch.Tensor:
        return ((t - mean) / std).contiguous()

    c, h, w = tx.shape[1:]
    return DatasetSplits(name, norm(tx), ty.long(), norm(vx), vy.long(), norm(sx), sy.long(),
                         (1, int(c), int(h), int(w)), num_classes)


NOISE_SEED = 1234  # digits-noisy's noise is the same for every run and split seed


def load_digits(seed: int = 0, name: str = "digits") -> DatasetSplits:
    """scikit-learn digits (1797 8x8 images) or one of its table variants (digits-rgb,
    -inverted, -noisy, -16px, -parity), at the table's size, split 60/20/20 by `seed`."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits as sk_digits

    info = DATASETS[name]
    variant = info.source.partition(":")[2]
    bunch = sk_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = F.interpolate(x, size=(info.size, info.size), mode="bilinear", align_corners=False)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    if variant == "rgb":
        x = x.repeat(1, 3, 1, 1)
    elif variant == "inverted":
        x = 1.0 - x
    elif variant == "noisy":
        gen = torch.Generator().manual_seed(NOISE_SEED)
        x = x + 0.3 * torch.randn(x.shape, generator=gen)
    elif variant == "parity":
        y = y % 2
    return _split(x, y, seed, info.name, info.classes)


def reshape_splits(splits: DatasetSplits, channels: int, size: int) -> DatasetSplits:
    """The same splits served with `channels` (1 <-> 3) and side `size`, standardised again
    with the training split's statistics."""
    import torch.nn.functional as F

    def convert(t: torch.Tensor) -> torch.Tensor:
        if t.shape[-1] != size or t.shape[-2] != size:
            t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
        if t.shape[1] == 1 and channels == 3:
            t = t.repeat(1, 3, 1, 1)
        elif t.shape[1] == 3 and channels == 1:
            t = t.mean(dim=1, keepdim=True)
        return t

    s = splits
    return _normalised(s.name, convert(s.train_x), s.train_y, convert(s.val_x), s.val_y,
                       convert(s.test_x), s.test_y, s.num_classes)


def _stack(ds: Any, size: int, label: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    import torch
    import torch.nn.functional as F

    xs, ys = [], []
    for img, target in ds:
        t = img if isinstance(img, torch.Tensor) else torch.as_tensor(img)
        if t.shape[-1] != size or t.shape[-2] != size:
            t = F.interpolate(t.unsqueeze(0), size=(size, size), mode="bilinear",
                              align_corners=False)[0]
        xs.append(t)
        ys.append(int(label(target) if label else target))
    return torch.stack(xs).float(), torch.tensor(ys, dtype=torch.int64)


def _how_to(name: str, root: Path, cls: str) -> str:
    return (f"dataset {name!r} is not in {root} and could not be downloaded; on a machine "
            f"with network run `nasloop data prepare {name} --data-dir {root.parent}` (or "
            f"`torchvision.datasets.{cls}(root={str(root)!r}, download=True)`), or copy its "
            f"files there, and pass --data-dir {root.parent}")


def _open_vision(info: DatasetInfo, data_dir: Path, download: bool) -> tuple[Any, Any, Any]:
    """The torchvision train and test sets of `info` (and a label mapper, or None)."""
    import torchvision
    from torchvision import transforms

    name, cls_name, size = info.name, info.vision_class or "", info.size
    cls = getattr(torchvision.datasets, cls_name, None)
    if cls is None:
        raise DatasetError(f"dataset {name!r} needs a newer torchvision (no {cls_name})")
    tf = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
    root = data_dir / name
    label = None
    if name == "svhn":
        kw_train: dict[str, Any] = {"split": "train"}
        kw_test: dict[str, Any] = {"split": "test"}
    elif name == "imagenette":
        kw_train, kw_test = {"split": "train", "size": "160px"}, {"split": "val", "size": "160px"}
    elif name == "celeba-gender":
        kw_train = {"split": "train", "target_type": "attr"}
        kw_test = {"split": "test", "target_type": "attr"}

        def label(attrs: Any) -> int:
            return int(attrs[20])  # the "Male" attribute
    else:
        kw_train, kw_test = {"train": True}, {"train": False}
    try:
        train = cls(root=str(root), download=download, transform=tf, **kw_train)
        test = cls(root=str(root), download=download, transform=tf, **kw_test)
    except Exception as exc:  # noqa: BLE001 - torchvision raises many kinds
        raise DatasetError(f"{_how_to(name, root, cls_name)} ({type(exc).__name__})") from None
    return train, test, label


def _vision(info: DatasetInfo, data_dir: Path, seed: int, download: bool) -> DatasetSplits:
    train, test, label = _open_vision(info, data_dir, download)
    tx, ty = _stack(train, info.size, label)
    sx, sy = _stack(test, info.size, label)
    return _holdout(info.name, tx, ty, sx, sy, seed, info.classes)


def _holdout(name: str, tx: torch.Tensor, ty: torch.Tensor, sx: torch.Tensor, sy: torch.Tensor,
             seed: int, num_classes: int) -> DatasetSplits:
    """Carve a fixed-seed 10 % validation split out of an official training split."""
    import torch

    order = torch.randperm(len(ty), generator=torch.Generator().manual_seed(seed))
    n_val = max(1, len(ty) // 10)
    va, tr = order[:n_val], order[n_val:]
    return _normalised(name, tx[tr], ty[tr], tx[va], ty[va], sx, sy, num_classes)


def _image_folder(info: DatasetInfo, seed: int) -> DatasetSplits:
    from torchvision import datasets, transforms

    path = info.source.split(":", 1)[1]
    steps = [transforms.Resize((info.size, info.size))]
    if info.channels == 1:
        steps.append(transforms.Grayscale(1))
    tf = transforms.Compose([*steps, transforms.ToTensor()])
    ds = datasets.ImageFolder(path, transform=tf)
    x, y = _stack(ds, info.size)
    return _split(x, y, seed, info.name, len(ds.classes))


def load_dataset(name: str = "digits", data_dir: str | Path | None = None, seed: int = 0,
                 download: bool = False, channels: int | None = None,
                 size: int | None = None) -> DatasetSplits:
    """Load `name` (a table name or `imagefolder:PATH`) with a split fixed by `seed`, served
    with `channels` and side `size` when given (`nasloop.data.table.served`).

    torchvision sets are read from `data_dir/NAME` and only downloaded when `download` is
    true (the sandbox never downloads; see `prepare_dataset`).
    """
    info = dataset_info(name)
    if info.source.startswith("sklearn"):
        splits = load_digits(seed, info.name)
    elif info.source.startswith("folder:"):
        splits = _image_folder(info, seed)
    else:
        splits = _vision(info, Path(data_dir or DEFAULT_DATA_DIR).expanduser(), seed, download)
    want = served(info, channels, size)
    if want is not info:
        splits = reshape_splits(splits, want.channels, want.size)
    return splits


def prepare_dataset(name: str, data_dir: str | Path | None = None) -> None:
    """Download a torchvision dataset into `data_dir` (outside the sandbox, which has no
    network). A no-op for digits and image folders."""
    info = dataset_info(name)
    if info.vision_class is not None:
        _open_vision(info, Path(data_dir or DEFAULT_DATA_DIR).expanduser(), download=True)
