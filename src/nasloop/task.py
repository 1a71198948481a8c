"""The task a search is for, described without loading any data (the sandbox loads it)."""

from __future__ import annotations

from pathlib import Path

from nasloop.agents.base import TaskInfo
from nasloop.config import Config, ConfigError

# channels, height/width handed to candidates, classes
KNOWN: dict[str, tuple[int, int, int]] = {
    "digits": (1, 32, 10),
    "mnist": (1, 32, 10),
    "cifar10": (3, 32, 10),
    "cifar100": (3, 32, 100),
    "svhn": (3, 32, 10),
    "imagenette": (3, 64, 10),
    "celeba-gender": (3, 64, 2),
}


def task_info(config: Config) -> TaskInfo:
    """Input shape and class count of the configured dataset (a folder counts its classes)."""
    name = config.data.dataset
    batch = config.train.batch_size
    if name.lower() in KNOWN:
        c, size, n = KNOWN[name.lower()]
        return TaskInfo(
            dataset=name.lower(),
            in_shape=(batch, c, size, size),
            num_classes=n,
            epochs=config.train.epochs,
        )
    folder = Path(name).expanduser()
    if folder.is_dir():
        classes = [
            p
            for p in (folder / "train" if (folder / "train").is_dir() else folder).iterdir()
            if p.is_dir()
        ]
        if len(classes) < 2:
            raise ConfigError(
                f"bad config: field 'data.dataset': {folder} has fewer than 2 class folders"
            )
        return TaskInfo(
            dataset=str(folder),
            in_shape=(batch, 3, 32, 32),
            num_classes=len(classes),
            epochs=config.train.epochs,
        )
    known = ", ".join(sorted(KNOWN))
    raise ConfigError(
        f"bad config: field 'data.dataset': unknown dataset {name!r}"
        f" (known: {known}, or an image folder)"
    )
