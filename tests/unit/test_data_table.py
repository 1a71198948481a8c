"""The one dataset table: what the task tells the agents is the shape the loaders train on,
for every entry (torchvision sets replaced in memory by images of their native size)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nasloop.config import build_config
from nasloop.data import loaders
from nasloop.data.table import DATASETS, DatasetError, dataset_info, served
from nasloop.tasks.registry import build_task

NATIVE = {"MNIST": (28, 28, "L"), "CIFAR10": (32, 32, "RGB"), "CIFAR100": (32, 32, "RGB"),
          "SVHN": (32, 32, "RGB"), "Imagenette": (160, 213, "RGB"), "CelebA": (178, 218, "RGB")}


class FakeVision:
    """A torchvision dataset class stand-in: 12 images of the real set's native size."""

    name = ""

    def __init__(self, root: str, download: bool, transform, **kw) -> None:
        from PIL import Image

        w, h, mode = NATIVE[self.name]
        self.items = [(transform(Image.new(mode, (w, h), color=i * 20)),
                       torch.zeros(40, dtype=torch.long) if self.name == "CelebA" else i % 2)
                      for i in range(12)]

    def __iter__(self):
        return iter(self.items)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_description_and_trained_shape_agree(name: str, monkeypatch, tmp_path: Path) -> None:
    import torchvision

    info = DATASETS[name]
    if info.vision_class:
        fake = type(info.vision_class, (FakeVision,), {"name": info.vision_class})
        monkeypatch.setattr(torchvision.datasets, info.vision_class, fake)
    splits = loaders.load_dataset(name, tmp_path, seed=0)
    assert splits.in_shape[1:] == info.shape
    task = build_task(build_config({"data": {"dataset": name}}))
    assert f"inputs {info.shape}, {info.classes} classes" in task.brief().line
    assert task.in_shape()[1:] == splits.in_shape[1:]


def test_served_shape_is_what_is_trained():
    splits = loaders.load_dataset("digits", None, 0, channels=3, size=20)
    assert splits.in_shape == (1, 3, 20, 20)
    task = build_task(build_config({"data": {"channels": 3, "image_size": 20}}))
    assert "inputs (3, 20, 20)" in task.brief().line
    assert served(DATASETS["digits"]) is DATASETS["digits"]
    with pytest.raises(DatasetError):
        served(DATASETS["digits"], channels=2)


def test_image_folder_keeps_its_files_size_or_resizes_when_they_disagree(tmp_path: Path):
    from PIL import Image

    for c in ("a", "b"):
        (tmp_path / "same" / c).mkdir(parents=True)
        (tmp_path / "mixed" / c).mkdir(parents=True)
        Image.new("L", (24, 24)).save(tmp_path / "same" / c / "0.png")
        Image.new("RGB", (24, 24)).save(tmp_path / "mixed" / c / "0.png")
        Image.new("RGB", (30, 20)).save(tmp_path / "mixed" / c / "1.png")
    same = dataset_info(f"imagefolder:{tmp_path / 'same'}")
    assert same.shape == (1, 24, 24) and same.classes == 2
    assert dataset_info(str(tmp_path / "same")) == same  # a plain folder means the same
    mixed = dataset_info(f"imagefolder:{tmp_path / 'mixed'}")
    assert mixed.shape == (3, 64, 64)
    assert loaders.load_dataset(f"imagefolder:{tmp_path / 'same'}").in_shape == (1, 1, 24, 24)


def test_unknown_dataset_is_one_line():
    with pytest.raises(DatasetError) as err:
        dataset_info("nope")
    assert "\n" not in str(err.value) and "digits" in str(err.value)


def test_prepare_offline_names_the_dataset_where_it_looked_and_how(monkeypatch, tmp_path: Path):
    """`nasloop data prepare` where the network is refused: one line, exit 2 (torchvision's
    download is replaced by one that fails as an offline machine does; nothing is fetched)."""
    import urllib.error

    import torchvision
    from typer.testing import CliRunner

    from nasloop.cli import app

    class Offline:
        def __init__(self, root: str, download: bool, **kw) -> None:
            raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", Offline)
    res = CliRunner().invoke(app, ["data", "prepare", "cifar10", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2
    [line] = res.output.strip().splitlines()
    assert "'cifar10'" in line and str(tmp_path / "cifar10") in line
    assert f"nasloop data prepare cifar10 --data-dir {tmp_path}" in line and "URLError" in line
    ok = CliRunner().invoke(app, ["data", "prepare", "digits"])
    assert ok.exit_code == 0 and "ships with scikit-learn" in ok.output
