"""The training settings of an image-classification job (`EvalJob.params`), one model read
by the task that writes them and the trainer that follows them (no torch here)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class TrainSettings(BaseModel):
    """How the sandbox trains and checks one model file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.01
    momentum: float = 0.9
    optimizer: Literal["sgd", "adam", "adamw"] = "sgd"  # bare form only
    max_params: int = 2_000_000


class DataSpec(BaseModel):
    """Which dataset a job trains on (`EvalJob.data`); with the job's seed, the data key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "digits"
    data_dir: str | None = None
