"""The one dataset table: what each dataset is, as the agents are told and the loaders build it.

Nothing here imports torch: the orchestrator, the task descriptions, `run` and `eval` read
the table; `nasloop.data.loaders` (inside the sandbox's data preparation) builds tensors of
exactly the shape the table gives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

FOLDER_PREFIX = "imagefolder:"
FOLDER_SIZE = 64  # image folders whose files disagree on their size are resized to this
FOLDER_SAMPLE = 200  # image files looked at to tell a folder's size and channels


class DatasetError(Exception):
    """A dataset is unknown or not available; the message is one line saying what to do."""


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset: its name, the tensors candidates get, and facts for the agents."""

    name: str
    channels: int
    size: int  # height = width of the images handed to candidates
    classes: int
    description: str
    source: str  # "sklearn[:variant]" | "torchvision:<Class>" | "folder:<path>"
    train_size: int | None = None  # images in the training split, when known up front

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return (self.channels, self.size, self.size)

    def in_shape(self, batch: int) -> tuple[int, int, int, int]:
        """(batch, channels, height, width) handed to a candidate's constructor."""
        return (batch, self.channels, self.size, self.size)

    @property
    def vision_class(self) -> str | None:
        """The torchvision dataset class name, for torchvision datasets."""
        kind, _, rest = self.source.partition(":")
        return rest if kind == "torchvision" else None


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo("digits", 1, 32, 10, "scikit-learn's 1,797 8x8 handwritten digits, "
                    "upsampled to 32x32, split 60/20/20", "sklearn", 1078),
        DatasetInfo("digits-rgb", 3, 32, 10, "digits as 3-channel (grey) images, for models "
                    "written for colour input", "sklearn:rgb", 1078),
        DatasetInfo("digits-inverted", 1, 32, 10, "digits with inverted intensities (light "
                    "background, dark strokes)", "sklearn:inverted", 1078),
        DatasetInfo("digits-noisy", 1, 32, 10, "digits with fixed Gaussian pixel noise "
                    "(sigma 0.3 of the intensity range)", "sklearn:noisy", 1078),
        DatasetInfo("digits-16px", 1, 16, 10, "digits at 16x16 instead of 32x32",
                    "sklearn:16px", 1078),
        DatasetInfo("digits-parity", 1, 32, 2, "digits labelled even (0) or odd (1): 2 "
                    "classes", "sklearn:parity", 1078),
        DatasetInfo("mnist", 1, 28, 10, "MNIST handwritten digits, 28x28 grey",
                    "torchvision:MNIST", 54000),
        DatasetInfo("cifar10", 3, 32, 10, "CIFAR-10 natural images, 32x32 colour",
                    "torchvision:CIFAR10", 45000),
        DatasetInfo("cifar100", 3, 32, 100, "CIFAR-100 natural images, 32x32 colour",
                    "torchvision:CIFAR100", 45000),
        DatasetInfo("svhn", 3, 32, 10, "Street View house numbers, 32x32 colour",
                    "torchvision:SVHN", 65931),
        DatasetInfo("imagenette", 3, 64, 10, "Imagenette (10 ImageNet classes), resized to "
                    "64x64", "torchvision:Imagenette", 8522),
        DatasetInfo("celeba-gender", 3, 64, 2, "CelebA faces, male/female, resized to 64x64",
                    "torchvision:CelebA", 146493),
    )
}
NAMES = (*DATASETS, f"{FOLDER_PREFIX}PATH")


def _folder_files_shape(classes: list[Path]) -> tuple[int | None, int]:
    """(side, channels) of a folder's images: the side when the sampled files agree on one
    square size (None otherwise), 1 channel when they are all greyscale (else 3)."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with torchvision
        return None, 3
    sizes, modes = set(), set()
    files = (f for c in classes for f in sorted(c.iterdir()) if f.is_file())
    for i, f in enumerate(files):
        if i >= FOLDER_SAMPLE:
            break
        try:
            with Image.open(f) as img:
                sizes.add(img.size)
                modes.add(img.mode)
        except OSError:
            continue
    side = None
    if len(sizes) == 1:
        (w, h), = sizes
        side = w if w == h else None
    return side, 1 if modes and modes <= {"L", "1", "I;16", "I"} else 3


def folder_info(path: str | Path) -> DatasetInfo:
    """An image folder (one sub-folder per class, or `train/` holding them) as a table entry:
    served at the files' own size and channels when they agree (else FOLDER_SIZE, RGB)."""
    folder = Path(path).expanduser().resolve()
    root = folder / "train" if (folder / "train").is_dir() else folder
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; give a folder with one "
                           "sub-folder of images per class")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DatasetError(f"image folder {folder} has fewer than 2 class folders")
    side, channels = _folder_files_shape(classes)
    how = f"at its files' {side}x{side}" if side else f"resized to {FOLDER_SIZE}x{FOLDER_SIZE}"
    return DatasetInfo(f"{FOLDER_PREFIX}{folder}", channels, side or FOLDER_SIZE, len(classes),
                       f"an image folder of {len(classes)} classes, {how}", f"folder:{folder}")


def served(info: DatasetInfo, channels: int | None = None, size: int | None = None
           ) -> DatasetInfo:
    """`info` as served with other channels (1 <-> 3) or image side (`[data] channels`,
    `[data] image_size`); unchanged when both are None."""
    if channels is not None and channels not in (1, 3):
        raise DatasetError(f"channels must be 1 or 3, not {channels}")
    if (channels or info.channels) == info.channels and (size or info.size) == info.size:
        return info
    c, s = channels or info.channels, size or info.size
    return replace(info, channels=c, size=s,
                   description=f"{info.description}; served as {c}x{s}x{s}")


def dataset_info(name: str) -> DatasetInfo:
    """The table entry of `name` (case-insensitive), of `imagefolder:PATH`, or of a plain
    directory (read as an image folder)."""
    if name.lower().startswith(FOLDER_PREFIX):
        return folder_info(name.split(":", 1)[1])
    info = DATASETS.get(name.lower())
    if info is not None:
        return info
    if Path(name).expanduser().is_dir():
        return folder_info(name)
    raise DatasetError(f"unknown dataset {name!r}; choose one of {', '.join(NAMES)}")
