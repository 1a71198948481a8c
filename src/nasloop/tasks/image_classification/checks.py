"""Checking a candidate before training: load it, build its Net, dry-forward a batch of 2.

`dry_check` is for trusted code only: it executes the file in the caller's process without
any isolation (the sandbox's candidate process and the tests call it). The sandbox child
runs the same checks through `trainer.run_job`.
"""

from __future__ import annotations

import linecache
import re
import sys
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasloop.sandbox.channel import without_channel
from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.failures import FailureClass
from nasloop.tasks.image_classification.contract import Form, detect_form, init_arity
from nasloop.tasks.image_classification.prm import prm_for, prm_table

if TYPE_CHECKING:
    from torch import nn

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
    compiled = compile(code, CODE_NAME, "exec")
    # sandboxed by the caller; run where it cannot write the result (nasloop.sandbox.channel)
    without_channel(lambda: exec(compiled, module.__dict__))  # noqa: S102
    return module


def unload_module() -> None:
    """Forget the module `load_module` made and its source lines (trusted warm-ups call this
    after running their own code through it, so that a process forked later holds none)."""
    sys.modules.pop("nasloop_candidate", None)
    linecache.cache.pop(CODE_NAME, None)


def model_prm(module: types.ModuleType, form: Form, table: dict[str, Any]) -> dict[str, Any]:
    """The `prm` a LEMUR Net gets: the base keys plus every key its
    `supported_hyperparameters()` declares, from `table`; CONTRACT naming a declared key
    that has no value ({} for a bare Net)."""
    if form != "lemur":
        return {}
    try:
        declared = module.supported_hyperparameters()
        keys = {str(k) for k in declared}
    except Exception as exc:  # noqa: BLE001 - the candidate's own function
        raise CandidateFailure(FailureClass.CONTRACT, "supported_hyperparameters() failed: "
                               f"{type(exc).__name__}: {exc}") from None
    prm, missing = prm_for(keys, table)
    if missing:
        raise CandidateFailure(FailureClass.CONTRACT, f"prm key {missing[0]!r} (declared by "
                               "supported_hyperparameters()) has no value: set it in "
                               f"[train.prm], e.g. {missing[0]} = 0.1")
    return prm


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
    """Forward a batch of 2 with the real input shape; check the output shape, then the
    parameter cap (in that order: a broken model over the cap is reported as broken).

    Returns (params, forward FLOPs per sample, counted by torch's FlopCounterMode).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(2, *in_shape[1:], device=device)
    model.eval()
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            try:
                out = main_output(model(x))
            except (RuntimeError, ValueError) as exc:
                hint = fit_hint(str(exc), in_shape)
                if hint is None:
                    raise
                raise CandidateFailure(FailureClass.SHAPE, hint) from exc
    check_output(out, 2, num_classes)
    params = count_params(model)
    if params > max_params:
        raise CandidateFailure(FailureClass.PARAMS, f"{params} parameters > cap {max_params}")
    return params, counter.get_total_flops() / 2


def main_output(out: Any) -> Any:
    """The logits of a forward's result: a model that also returns auxiliary outputs (a tuple
    or list, a namedtuple such as torchvision's GoogLeNetOutputs, or a dict with "out" or
    "logits") has its main output first; the trainer ignores the rest."""
    import torch

    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        for key in ("logits", "out"):
            if key in out:
                return out[key]
        return out
    if isinstance(out, (tuple, list)) and out:
        return out[0]
    return out


_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+)")
_MATMUL = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x")


def fit_hint(message: str, in_shape: tuple[int, ...]) -> str | None:
    """A one-line reason when a model does not fit the task's input, naming the expected and
    the given shapes and the fix where it is mechanical; None for other errors."""
    given = tuple(in_shape[1:])
    m = _CHANNELS.search(message)
    if m:
        want, got = int(m.group(1)), int(m.group(2))
        fix = (f"; serve the data with {want} channels ([data] channels = {want}, e.g. "
               "dataset digits-rgb)" if got == 1 and want == 3 else "")
        return (f"the model expects {want} input channels, the data has {got} "
                f"(inputs {given}){fix}")
    m = _MATMUL.search(message)
    if m and m.group(2) != m.group(3):
        return (f"the model's classifier expects {m.group(3)} input features, the inputs "
                f"{given} give {m.group(2)}: it was written for another image size")
    return None


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
        prm = model_prm(module, form, prm_table(0.01, 0.9, in_shape[0], 1))
        model = build_model(module, form, code, in_shape, num_classes, prm, "cpu")
        params, flops = dry_forward(model, in_shape, num_classes, max_params, "cpu")
    return CheckInfo(form, params, flops)
