"""The settings of an augmentation job (`EvalJob.params`): the fixed reference network and
its fixed recipe, one model read by the task that writes them and the runner (no torch)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from nasloop.tasks.image_classification.settings import TrainSettings


class AugmentSettings(BaseModel):
    """What the sandbox trains with a candidate transform: `network` (the source of the
    reference model file) under `train` (epochs, batch size, optimizer, parameter cap)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str
    network_name: str = "network.py"
    train: TrainSettings = TrainSettings()
