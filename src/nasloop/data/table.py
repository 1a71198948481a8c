"""The one dataset table: what each dataset is, as the agents are told and the loaders build it.

Nothing here imports torch: the orchestrator, the task descriptions, `run` and `eval` read
the table; `nasloop.data.loaders` (inside the sandbox's data preparation) builds tensors of
exactly the shape the table gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FOLDER_PREFIX = "imagefolder:"
FOLDER_SIZE = 64  # image folders are resized to this unless the table entry says otherwise


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
    source: str  # "sklearn" | "torchvision:<Class>" | "folder:<path>"
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


def folder_info(path: str | Path) -> DatasetInfo:
    """An image folder (one sub-folder per class, or `train/` holding them) as a table entry."""
    folder = Path(path).expanduser().resolve()
    root = folder / "train" if (folder / "train").is_dir() else folder
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist; give a folder with one "
                           "sub-folder of images per class")
    classes = [p for p in root.iterdir() if p.is_dir()]
    if len(classes) < 2:
        raise DatasetError(f"image folder {folder} has fewer than 2 class folders")
    return DatasetInfo(f"{FOLDER_PREFIX}{folder}", 3, FOLDER_SIZE, len(classes),
                       f"an image folder of {len(classes)} classes, resized to "
                       f"{FOLDER_SIZE}x{FOLDER_SIZE}", f"folder:{folder}")


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
