"""Torch side of the recipes task: build a recipe's loss and optimizer (bare-form files).

The sandbox trainer calls these for a bare-form candidate, whose recipe it reads with
``ops.recipe_of`` (statically, never from the executed module). The injected loss classes
come from ``losses``' source text, so the formulas exist once.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

from nasloop.tasks.recipes.losses import INJECTED
from nasloop.tasks.recipes.vocab import (
    LOSS_KINDS,
    LOSS_OP,
    OPTIMIZER_KINDS,
    OPTIMIZER_OP,
    check_kind,
)

if TYPE_CHECKING:
    import torch
    from torch import nn


@cache
def loss_class(name: str) -> type[nn.Module]:
    """The injected loss class ``name`` (``NGLLoss``, ``LogSoftmaxNLLLoss``), built from
    its source text."""
    import torch

    namespace: dict[str, Any] = {"torch": torch, "__name__": __name__}
    exec(compile(INJECTED[name], f"<nasloop {name}>", "exec"), namespace)  # noqa: S102 - our text
    cls: type[nn.Module] = namespace[name]
    return cls


def make_loss(kind: str) -> nn.Module:
    """A fresh loss module of ``kind`` (a name in ``vocab.LOSSES``)."""
    import torch

    spec = LOSS_KINDS[check_kind(LOSS_OP, kind)]
    if spec.injected is not None:
        return loss_class(spec.injected)()
    assert spec.nn_class is not None
    module: nn.Module = getattr(torch.nn, spec.nn_class)(**dict(spec.nn_kwargs))
    return module


def make_optimizer(
    kind: str, params: Iterable[Any], lr: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """A ``torch.optim`` optimizer of ``kind`` over ``params``: ``lr`` always, ``momentum``
    only for the kinds that take it (SGD); every other setting at torch's default."""
    import torch

    spec = OPTIMIZER_KINDS[check_kind(OPTIMIZER_OP, kind)]
    extra = {"momentum": momentum} if spec.momentum else {}
    optimizer: torch.optim.Optimizer = getattr(torch.optim, spec.torch_class)(
        params, lr=lr, **extra
    )
    return optimizer
