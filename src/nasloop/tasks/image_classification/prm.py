"""The hyperparameters (`prm`) handed to LEMUR-form models: one documented default table.

LEMUR models declare the keys they read in `supported_hyperparameters()`; the NN Dataset
samples most of them in [0, 1] and each model maps them to its own range (`patch_size` is a
fraction of the image size, `pretrained` is on above 0.5). Every run hands a model the base
keys plus each declared key from this table, with `[train.prm]` overriding any of them; a
declared key with no value anywhere is the candidate's contract failure, naming the key.
"""

from __future__ import annotations

from typing import Any

PrmValue = float | int | str | bool

# key -> (default, meaning). lr, momentum, batch and epoch come from [train].
DEFAULTS: dict[str, tuple[PrmValue, str]] = {
    "dropout": (0.2, "dropout probability"),
    "weight_decay": (0.0, "weight decay"),
    "transform": ("norm", "the data transform's name (data arrives normalised)"),
    "norm_eps": (1e-5, "epsilon of normalisation layers"),
    "norm_momentum": (0.1, "momentum of batch-norm running statistics"),
    "stochastic_depth_prob": (0.0, "stochastic depth (drop path) probability"),
    "attention_dropout": (0.0, "dropout on attention weights"),
    "dropout_aux": (0.2, "dropout of auxiliary classifier heads"),
    "patch_size": (0.125, "patch size as a fraction of the image side (4 px of 32)"),
    "pretrained": (0.0, "load pretrained weights when > 0.5 (off: runs never download)"),
}
BASE = ("lr", "momentum", "dropout", "batch", "epoch", "weight_decay", "transform")


def prm_table(lr: float, momentum: float, batch: int, epochs: int,
              overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every key nasloop knows a value for: the defaults, [train] and the overrides."""
    table: dict[str, Any] = {k: v for k, (v, _) in DEFAULTS.items()}
    table.update(lr=lr, momentum=momentum, batch=batch, epoch=epochs)
    table.update(overrides or {})
    return table


def prm_for(declared: set[str] | None, table: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the prm a model gets, declared keys without a value): the base keys plus every key
    the model declares."""
    keys = list(BASE) + sorted(set(declared or ()) - set(BASE))
    missing = [k for k in keys if k not in table]
    return {k: table[k] for k in keys if k in table}, missing
