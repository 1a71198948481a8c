"""The settings of the restoration task (no torch here): its `[task]` keys, what a job's data
is made of (`EvalJob.data`, the prepared-data cache key) and how the sandbox trains and
checks a candidate (`EvalJob.params`). One model each, read by both sides."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_OPS = ("Conv2d", "ReLU", "Upsample", "add")


class HardwareLimits(BaseModel):
    """The hardware constraints checked before training (from the traced graph)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allowed_ops: list[str] = Field(
        default_factory=lambda: list(DEFAULT_OPS),
        description="Operators a candidate's traced graph may use: torch.nn module class "
        "names (Conv2d, ReLU, Upsample, ...) and the functions/methods add, mul, cat, relu, "
        "interpolate ... (empty: no allow-list).")
    conv_kernels: list[int] = Field(
        default_factory=lambda: [3], description="Kernel sizes (square) a Conv2d may have.")
    upsample_modes: list[str] = Field(
        default_factory=lambda: ["nearest"], description="Modes an Upsample/interpolate may use.")
    max_params: int = Field(200_000, ge=1, description="Parameter cap.")
    latency_size: int = Field(
        64, ge=4, le=4096, description="Side of the square image the CPU latency is measured at.")
    max_latency_ms: float | None = Field(
        None, gt=0, description="CPU latency cap per image at latency_size (None: reported only).")


class RestorationParams(HardwareLimits):
    """`[task]` keys of the restoration task."""

    sigma: float = Field(0.2, ge=0, le=5, description="Gaussian noise sigma (images in [0, 1]).")
    blur: float = Field(0.0, ge=0, le=10, description="Gaussian blur sigma before the noise "
                        "(0: none).")
    epochs: int = Field(10, ge=1, le=10_000, description="Training epochs per candidate.")
    lr: float = Field(0.003, gt=0, le=10, description="Adam learning rate of the trainer.")
    distill: bool = Field(False, description="Train a teacher once and train candidates on "
                          "alpha * teacher + (1 - alpha) * clean targets.")
    alpha: float = Field(0.9, ge=0, le=1, description="Weight of the teacher's outputs.")
    teacher: str = Field("builtin", description="The teacher: 'builtin' (a wider residual "
                         "network) or a model file under the candidate contract (your own file, "
                         "trained on the trusted side).")
    teacher_epochs: int = Field(30, ge=1, le=10_000, description="Epochs the teacher trains.")


class RestorationData(BaseModel):
    """What a job's data is: the dataset, its degradation and the training targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = "digits"
    data_dir: str | None = None
    channels: int | None = None
    image_size: int | None = None
    sigma: float = 0.2
    blur: float = 0.0
    distill: bool = False
    alpha: float = 0.9
    teacher: str = "builtin"
    teacher_sha: str | None = None  # a teacher file's content hash (edits re-prepare)
    teacher_epochs: int = 30
    lr: float = 0.003
    batch_size: int = 32


class RestorationSettings(HardwareLimits):
    """How the sandbox checks and trains one restoration candidate (`EvalJob.params`)."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.003
    prm: dict[str, float | int | str | bool] = Field(default_factory=dict)
