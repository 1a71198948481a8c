"""The training settings of an image-classification job (`EvalJob.params`), one model read
by the task that writes them and the trainer that follows them (no torch here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrainSettings(BaseModel):
    """How the sandbox trains and checks one model file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # bare form only
    max_params: int = 2_000_000
    prm: dict[str, float | int | str | bool] = Field(default_factory=dict)  # [train.prm]
    predict_test: bool = False  # also predict the test split (for a final report only)


class DataSpec(BaseModel):
    """Which dataset a job trains on (`EvalJob.data`); with the job's seed, the data key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "digits"
    data_dir: str | None = None
    channels: int | None = None  # serve with this many channels (default: the dataset's)
    image_size: int | None = None  # serve at this side (default: the dataset's)
    # split the data by this seed instead of the job's: a final report trains other seeds
    # on the search's own split, so its test split stays one the search never saw
    split_seed: int | None = None
