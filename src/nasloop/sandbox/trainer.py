"""Build, check and train one candidate in the *current* process.

The sandbox child calls `run_job`. `dry_check` is for trusted code only (our own seeds and
mutations): it executes the candidate in the caller's process without any isolation.
"""

from __future__ import annotations

import linecache
import math
import resource
import sys
import time
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasloop.sandbox.classify import CandidateFailure, classify_exception, traceback_tail
from nasloop.sandbox.contract import Form, detect_form, init_arity
from nasloop.sandbox.failures import FailureClass

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nasloop.sandbox.datasets import DatasetSplits
    from nasloop.sandbox.job import EvalJob

CODE_NAME = "<candidate>"


@dataclass(frozen=True)
class CheckInfo:
    """What the pre-training check found: the form, parameter count, forward FLOPs/sample."""

    form: Form
    params: int
    flops: float


def load_module(code: str) -> types.ModuleType:
    """Execute candidate source as a fresh module named `nasloop_candidate`."""
    module = types.ModuleType("nasloop_candidate")
    module.__file__ = CODE_NAME
    linecache.cache[CODE_NAME] = (len(code), None, code.splitlines(True), CODE_NAME)
    sys.modules["nasloop_candidate"] = module
    exec(compile(code, CODE_NAME, "exec"), module.__dict__)  # noqa: S102 - sandboxed by caller
    return module


def default_prm(lr: float, momentum: float, batch: int, epochs: int) -> dict[str, Any]:
    """Hyperparameters handed to a LEMUR `Net` (the keys the LEMUR corpus expects)."""
    return {"lr": lr, "momentum": momentum, "dropout": 0.2, "batch": batch, "epoch": epochs,
            "weight_decay": 0.0, "transform": "norm"}


def build_model(module: types.ModuleType, form: Form, code: str, in_shape: tuple[int, ...],
                num_classes: int, prm: dict[str, Any], device: str) -> nn.Module:
    """Instantiate `Net` following its form; a wrong constructor is a contract failure."""
    import torch

    net_cls = getattr(module, "Net", None)
    if not isinstance(net_cls, type) or not issubclass(net_cls, torch.nn.Module):
        raise CandidateFailure(FailureClass.CONTRACT, "Net is not a torch.nn.Module subclass")
    if form == "lemur":
        args: tuple[Any, ...] = (in_shape, (num_classes,), prm, torch.device(device))
    else:
        args = () if not init_arity(code) else (in_shape, (num_classes,))
    model = net_cls(*args)
    return model.to(device)


def count_params(model: nn.Module) -> int:
    """Number of parameters (uninitialised lazy parameters count as zero)."""
    from torch.nn.parameter import UninitializedParameter

    return sum(p.numel() for p in model.parameters()
               if not isinstance(p, UninitializedParameter))


def dry_forward(model: nn.Module, in_shape: tuple[int, ...], num_classes: int,
                max_params: int, device: str) -> tuple[int, float]:
    """Forward a batch of 2 with the real input shape; check output shape and parameter cap.

    Returns (params, forward FLOPs per sample, counted by torch's FlopCounterMode).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    params = count_params(model)
    if params > max_params:
        raise CandidateFailure(FailureClass.PARAMS, f"{params} parameters > cap {max_params}")
    x = torch.randn(2, *in_shape[1:], device=device)
    model.eval()
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(x)
    check_output(out, 2, num_classes)
    params = count_params(model)
    if params > max_params:
        raise CandidateFailure(FailureClass.PARAMS, f"{params} parameters > cap {max_params}")
    return params, counter.get_total_flops() / 2


def check_output(out: Any, batch: int, num_classes: int) -> None:
    """Raise SHAPE unless `out` is a (batch, num_classes) tensor."""
    import torch

    if not isinstance(out, torch.Tensor):
        raise CandidateFailure(FailureClass.SHAPE,
                               f"forward returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != (batch, num_classes):
        raise CandidateFailure(FailureClass.SHAPE, f"output shape {tuple(out.shape)} != "
                                                   f"expected {(batch, num_classes)}")


def dry_check(code: str, in_shape: tuple[int, ...], num_classes: int,
              max_params: int) -> CheckInfo:
    """Check a candidate in THIS process (trusted code only: no sandbox, no limits).

    Raises ContractError or CandidateFailure (both carry `failure_class`) or the
    candidate's own exception; `classify_exception` maps any of them to a class.
    """
    import torch

    form = detect_form(code)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module = load_module(code)
        prm = default_prm(0.01, 0.9, in_shape[0], 1)
        model = build_model(module, form, code, in_shape, num_classes, prm, "cpu")
        params, flops = dry_forward(model, in_shape, num_classes, max_params, "cpu")
    return CheckInfo(form, params, flops)


class GuardedLoss:
    """Wraps a candidate's loss and raises NAN_LOSS on a non-finite value."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.tripped = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        import torch

        loss = self.inner(*args, **kwargs)
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            self.tripped = True
            raise CandidateFailure(FailureClass.NAN_LOSS, f"loss became {loss.detach().sum()}")
        return loss

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def to(self, *args: Any, **kwargs: Any) -> GuardedLoss:
        if hasattr(self.inner, "to"):
            self.inner = self.inner.to(*args, **kwargs)
        return self


def _guard_lemur(model: nn.Module) -> GuardedLoss:
    criteria = getattr(model, "criteria", None)
    if criteria is None or getattr(model, "optimizer", None) is None:
        raise CandidateFailure(FailureClass.CONTRACT,
                               "train_setup() must set self.criteria and self.optimizer")
    if isinstance(criteria, (tuple, list)) and criteria:
        guard = GuardedLoss(criteria[0])
        model.criteria = type(criteria)([guard, *criteria[1:]])
    elif callable(criteria):
        guard = GuardedLoss(criteria)
        model.criteria = guard
    else:
        raise CandidateFailure(FailureClass.CONTRACT, "self.criteria must be a tuple of losses")
    return guard


def _check_finite_params(model: nn.Module) -> None:
    import torch

    for p in model.parameters():
        if not bool(torch.isfinite(p.detach()).all()):
            raise CandidateFailure(FailureClass.NAN_LOSS, "parameters became NaN or inf")


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int,
             device: str, batch: int = 256) -> float:
    """Accuracy of `model` on (x, y)."""
    import torch

    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            out = model(x[i:i + batch].to(device))
            check_output(out, len(y[i:i + batch]), num_classes)
            correct += int((out.argmax(dim=1).cpu() == y[i:i + batch]).sum())
    return correct / max(len(y), 1)


def _loader(splits: DatasetSplits, job: EvalJob) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    gen = torch.Generator().manual_seed(job.seed)
    return DataLoader(TensorDataset(splits.train_x, splits.train_y), batch_size=job.batch_size,
                      shuffle=True, generator=gen)


def _make_optimizer(model: nn.Module, job: EvalJob) -> torch.optim.Optimizer:
    import torch

    if job.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=job.lr)
    if job.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=job.lr)
    return torch.optim.SGD(model.parameters(), lr=job.lr, momentum=job.momentum)


def train_bare(model: nn.Module, splits: DatasetSplits, job: EvalJob) -> int:
    """Train a bare-form model: cross-entropy, job.optimizer, cosine schedule per step."""
    import torch

    loader = _loader(splits, job)
    opt = _make_optimizer(model, job)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, job.epochs * len(loader)))
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(job.epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(job.device), yb.to(job.device)
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            if not bool(torch.isfinite(loss.detach())):
                raise CandidateFailure(FailureClass.NAN_LOSS, f"loss became {loss.item()}")
            loss.backward()
            opt.step()
            sched.step()
    return job.epochs


def train_lemur(model: Any, splits: DatasetSplits, job: EvalJob, prm: dict[str, Any]) -> int:
    """Honour the LEMUR form: train_setup(prm), then learn(train_data) once per epoch."""
    model.train_setup(prm)
    guard = _guard_lemur(model)
    loader = _loader(splits, job)
    for _ in range(job.epochs):
        model.train()
        model.learn(loader)
        if guard.tripped:
            raise CandidateFailure(FailureClass.NAN_LOSS, "loss became NaN or inf")
        _check_finite_params(model)
    return job.epochs


def _peak_mem_mb(device: str) -> float:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def preload() -> None:
    """Import what checking and training need, so a forked child imports nothing of ours."""
    import torch.nn.parameter  # noqa: F401
    import torch.optim.lr_scheduler  # noqa: F401
    import torch.utils.data  # noqa: F401
    import torch.utils.flop_counter  # noqa: F401

    from nasloop.sandbox import isolation  # noqa: F401

    warm_up()


WARM_UP_CODE = """
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, in_shape, out_shape):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_shape[1], 2, 3), nn.BatchNorm2d(2), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, out_shape[0]))
    def forward(self, x):
        return self.body(x)
"""


def warm_up() -> None:
    """Run a tiny check and training step once, so lazy imports (the flop counter pulls in
    torch._dynamo, ~3 s) happen here and not in every forked child."""
    import torch

    from nasloop.sandbox.datasets import DatasetSplits
    from nasloop.sandbox.job import EvalJob

    with torch.random.fork_rng(devices=[]):
        x, y = torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
        splits = DatasetSplits("warm-up", x, y, x, y, x, y, (1, 1, 8, 8), 2)
        for opt in ("sgd", "adam", "adamw"):
            job = EvalJob(candidate_id=-1, code=WARM_UP_CODE, batch_size=2, optimizer=opt)
            result = run_job(job, splits)
            if result["status"] != "ok":
                raise RuntimeError(f"trainer warm-up failed: {result.get('message')}")


def run_job(job: EvalJob, splits: DatasetSplits) -> dict[str, Any]:
    """Check and train `job` here; return EvalResult fields (never raises for the candidate)."""
    import torch

    t0 = time.perf_counter()
    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    phase = "parse"
    try:
        form = detect_form(job.code)
        out["form"] = form
        torch.manual_seed(job.seed)
        phase = "import"
        module = load_module(job.code)
        in_shape = (job.batch_size, *splits.in_shape[1:])
        prm = default_prm(job.lr, job.momentum, job.batch_size, job.epochs)
        phase = "__init__"
        model = build_model(module, form, job.code, in_shape, splits.num_classes, prm,
                            job.device)
        phase = "dry forward"
        params, flops = dry_forward(model, in_shape, splits.num_classes, job.max_params,
                                    job.device)
        check_s = time.perf_counter() - t0
        phase = "training"
        t1 = time.perf_counter()
        if form == "lemur":
            epochs = train_lemur(model, splits, job, prm)
        else:
            epochs = train_bare(model, splits, job)
        train_s = time.perf_counter() - t1
        phase = "validation"
        acc = evaluate(model, splits.val_x, splits.val_y, splits.num_classes, job.device)
        if not math.isfinite(acc):
            raise CandidateFailure(FailureClass.NAN_LOSS, "validation accuracy is not finite")
    except BaseException as exc:  # noqa: BLE001 - every candidate failure is classified
        cls, msg = classify_exception(exc, phase)
        if phase == "import" and isinstance(exc, SyntaxError):
            cls = FailureClass.SYNTAX
        out.update(failure_class=cls.value, message=msg,
                   traceback_tail=traceback_tail(exc, code_name=CODE_NAME))
        out["wall_s"] = time.perf_counter() - t0
        return out
    out.update(status="ok", metrics={
        "val_accuracy": acc, "params": float(params), "flops": float(flops),
        "train_s": train_s, "epochs": float(epochs), "check_s": check_s,
        "peak_mem_mb": _peak_mem_mb(job.device)})
    out["wall_s"] = time.perf_counter() - t0
    return out
