"""The recipe vocabulary: loss kinds, optimizer kinds, the paper's grid (torch-free).

Every other module of the recipes task reads its kinds and their spellings from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasloop.agents.mutation.spec import MutationError

LOSS_OP = "loss"  # Mutation.op of a loss rewrite
OPTIMIZER_OP = "optimizer"  # Mutation.op of an optimizer rewrite
RECIPE_NAME = "TRAIN_RECIPE"  # the module-level literal a bare-form file carries
LABEL_SMOOTHING = 0.1


@dataclass(frozen=True)
class LossKind:
    """One loss: a torch.nn class with fixed keyword values, or a class nasloop injects."""

    name: str
    summary: str
    nn_class: str | None = None  # e.g. "CrossEntropyLoss"
    nn_kwargs: tuple[tuple[str, float], ...] = ()
    injected: str | None = None  # class name of the injected loss (see losses.py)


@dataclass(frozen=True)
class OptimizerKind:
    """One optimizer: its torch.optim class and whether it takes ``momentum``."""

    name: str
    torch_class: str
    momentum: bool = False


LOSS_KINDS: dict[str, LossKind] = {
    kind.name: kind
    for kind in (
        LossKind("cross_entropy", "cross-entropy on the logits", nn_class="CrossEntropyLoss"),
        LossKind("nll", "NLL on log-softmax of the logits", injected="LogSoftmaxNLLLoss"),
        LossKind("ngl", "NGL: exp(2.4092 - p - p*y) - cos(cos(sin(p))), p = softmax",
                 injected="NGLLoss"),
        LossKind("label_smoothing", f"cross-entropy with label smoothing {LABEL_SMOOTHING}",
                 nn_class="CrossEntropyLoss", nn_kwargs=(("label_smoothing", LABEL_SMOOTHING),)),
    )
}
# momentum only for SGD: RMSprop's momentum defaults to 0 in torch and the study keeps
# every optimizer at its defaults except the learning rate
OPTIMIZER_KINDS: dict[str, OptimizerKind] = {
    kind.name: kind
    for kind in (
        OptimizerKind("sgd", "SGD", momentum=True),
        OptimizerKind("adam", "Adam"),
        OptimizerKind("adamw", "AdamW"),
        OptimizerKind("rmsprop", "RMSprop"),
        OptimizerKind("adagrad", "Adagrad"),
        OptimizerKind("adadelta", "Adadelta"),
    )
}
LOSSES: tuple[str, ...] = tuple(LOSS_KINDS)
GRID_LOSSES: tuple[str, ...] = LOSSES[:3]  # the paper's losses; label smoothing is extra
OPTIMIZERS: tuple[str, ...] = tuple(OPTIMIZER_KINDS)


def check_kind(op: str, kind: object) -> str:
    """Return ``kind`` if it is a known kind for ``op`` ("loss"/"optimizer"), else raise."""
    known = {LOSS_OP: LOSSES, OPTIMIZER_OP: OPTIMIZERS}.get(op)
    if known is None:
        raise MutationError(f"unknown recipe operator {op!r}; known: {LOSS_OP}, {OPTIMIZER_OP}")
    if kind not in known:
        raise MutationError(f"unknown {op} kind {kind!r}; known: {', '.join(known)}")
    return str(kind)


@dataclass(frozen=True)
class Recipe:
    """A loss kind and an optimizer kind, both from the vocabulary."""

    loss: str
    optimizer: str

    def __post_init__(self) -> None:
        check_kind(LOSS_OP, self.loss)
        check_kind(OPTIMIZER_OP, self.optimizer)

    @property
    def name(self) -> str:
        """``loss+optimizer``, e.g. ``ngl+adam`` (a stable key for tables)."""
        return f"{self.loss}+{self.optimizer}"


DEFAULT_RECIPE = Recipe("cross_entropy", "sgd")  # a bare-form file without TRAIN_RECIPE


def grid(losses: tuple[str, ...] = GRID_LOSSES) -> list[Recipe]:
    """The study grid, loss-major: by default the paper's 3 losses x 6 optimizers = 18."""
    return [Recipe(loss, optimizer) for loss in losses for optimizer in OPTIMIZERS]
