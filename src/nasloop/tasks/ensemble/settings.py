"""The `[task]` keys of the ensemble task: which families, how quartets are sampled, and the
gate and training recipe every assembled file carries (its `MOE` literal). No torch here."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Sampler = Literal["lexicographic", "random", "stratified"]


class MoeSettings(BaseModel):
    """The gate and the training recipe of an assembled mixture (written into the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(0.003, gt=0, le=1.0, description="The experts' AdamW learning rate.")
    gate_lr_mult: float = Field(2.0, gt=0, le=100, description="The gate's learning rate as a "
                                "multiple of the experts'.")
    weight_decay: float = Field(0.01, ge=0, le=1.0, description="AdamW weight decay.")
    label_smoothing: float = Field(0.1, ge=0, lt=1.0, description="Cross-entropy label "
                                   "smoothing.")
    mixup_alpha: float = Field(0.2, ge=0, le=10, description="Mixup's Beta(a, a) (0: off).")
    warmup_frac: float = Field(0.05, ge=0, le=1.0, description="Linear warm-up as a share of "
                               "all training steps; cosine decay after it, stepped per batch.")
    clip_norm: float = Field(5.0, ge=0, le=1000, description="Gradient-norm clipping (0: off).")
    balance_weight: float = Field(0.01, ge=0, le=10, description="Weight of the "
                                  "load-balancing term.")
    gate_noise: float = Field(1.0, ge=0, le=10, description="Std of the Gaussian noise on the "
                              "gate's logits in training.")
    gate_hidden: int = Field(32, ge=1, le=4096, description="Hidden width of the gate's MLP.")
    temperature: float = Field(2.0, gt=0, description="The gate's starting temperature.")
    temperature_min: float = Field(0.5, gt=0, description="Lowest temperature.")
    temperature_max: float = Field(5.0, gt=0, description="Highest temperature.")

    @model_validator(mode="after")
    def _bounds(self) -> MoeSettings:
        if not self.temperature_min <= self.temperature <= self.temperature_max:
            raise ValueError("temperature must lie within [temperature_min, temperature_max]")
        return self


class EnsembleParams(MoeSettings):
    """`[task]` keys of `kind = "ensemble"`."""

    families: list[str] = Field(
        default_factory=lambda: ["seeds"],
        description="Where the expert families come from: model files, folders of them (or "
        "an NN-Dataset tree), built-in seed names, `seeds` (all of them), `run:DIR` (a run's "
        "elites).")
    k: int = Field(4, ge=2, le=16, description="Experts per ensemble.")
    sampler: Sampler = Field("stratified", description="How the first ensembles are drawn: "
                             "lexicographic (the reference's biased order), random, stratified.")
    initial: int = Field(4, ge=1, le=10_000, description="Sampled ensembles evaluated first.")
    elites: int = Field(8, ge=1, le=1000, description="Candidates taken from each `run:DIR`.")

    def moe(self) -> MoeSettings:
        """The gate and recipe part alone."""
        return MoeSettings.model_validate(self.model_dump(include=set(MoeSettings.model_fields)))
