"""The hardware constraints of a candidate, from its traced graph (torch.fx) and a timed
forward pass. Tracing executes the candidate's code: call this only in the candidate's own
sandboxed process (or on trusted lineage, as the mutation space does)."""

from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.failures import FailureClass

if TYPE_CHECKING:
    from torch import nn

    from nasloop.tasks.restoration.settings import HardwareLimits

# functions and tensor methods by the operator name the allow-list uses
_FUNCTION_NAMES = {"add": "add", "iadd": "add", "sub": "sub", "mul": "mul", "imul": "mul",
                   "relu": "ReLU", "relu_": "ReLU", "interpolate": "Upsample",
                   "upsample": "Upsample", "getitem": "getitem"}
_ALWAYS = {"getitem"}  # plumbing of tuple outputs, no computation


@dataclass(frozen=True)
class UsedOp:
    """One operator in the traced graph: its allow-list name and its settings."""

    name: str
    where: str  # the node's module path or function
    kernel: tuple[int, ...] | None = None
    mode: str | None = None

    def describe(self) -> str:
        extra = f" kernel {'x'.join(map(str, self.kernel))}" if self.kernel else ""
        extra += f" mode {self.mode!r}" if self.mode else ""
        return f"{self.name}{extra} ({self.where})"


def _function_name(target: Any) -> str:
    raw = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    if target in (operator.add, operator.iadd):
        raw = "add"
    return _FUNCTION_NAMES.get(raw, raw)


def used_ops(model: nn.Module) -> list[UsedOp]:
    """The operators of `model`'s forward, traced with torch.fx (CONTRACT when it cannot be
    traced: the constraints cannot be checked)."""
    import torch.fx

    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception as exc:  # noqa: BLE001 - the candidate's forward, classified
        raise CandidateFailure(FailureClass.CONTRACT, "the forward cannot be traced by torch.fx "
                               f"(needed for the hardware check): {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None
    found = []
    for node in graph.nodes:
        if node.op == "call_module":
            mod = model.get_submodule(str(node.target))
            kernel = getattr(mod, "kernel_size", None)
            kernel = tuple(kernel) if isinstance(kernel, tuple) else (
                (kernel, kernel) if isinstance(kernel, int) else None)
            found.append(UsedOp(type(mod).__name__, str(node.target), kernel,
                                getattr(mod, "mode", None)))
        elif node.op in ("call_function", "call_method"):
            name = _function_name(node.target)
            mode = node.kwargs.get("mode", "nearest") if name == "Upsample" else None
            found.append(UsedOp(name, name if node.op == "call_method" else
                                getattr(node.target, "__name__", str(node.target)),
                                mode=str(mode) if mode is not None else None))
    return found


def why_forbidden(op: UsedOp, limits: HardwareLimits) -> str | None:
    """None when `op` is allowed, else a one-line reason naming the operator."""
    if not limits.allowed_ops or op.name in _ALWAYS:
        return None
    if op.name not in limits.allowed_ops:
        allowed = ", ".join(limits.allowed_ops)
        return f"operator {op.describe()} is not in the allow-list ({allowed})"
    if op.kernel is not None and op.name.startswith("Conv"):
        if len(set(op.kernel)) != 1 or op.kernel[0] not in limits.conv_kernels:
            sizes = ", ".join(f"{k}x{k}" for k in limits.conv_kernels)
            return f"operator {op.describe()}: allowed kernels are {sizes}"
    if op.name == "Upsample" and op.mode not in limits.upsample_modes:
        return (f"operator {op.describe()}: allowed upsample modes are "
                f"{', '.join(limits.upsample_modes)}")
    return None


def check_allowed(model: nn.Module, limits: HardwareLimits) -> list[UsedOp]:
    """The traced operators; FORBIDDEN naming the first one outside the allow-list."""
    ops = used_ops(model)
    for op in ops:
        reason = why_forbidden(op, limits)
        if reason is not None:
            raise CandidateFailure(FailureClass.FORBIDDEN, reason)
    return ops


def latency_ms(model: nn.Module, channels: int, size: int, repeats: int = 10) -> float:
    """Median CPU time (ms) of one forward pass of a (1, channels, size, size) image, on the
    threads the process has."""
    import torch

    x = torch.rand(1, channels, size, size)
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            out = model(x)
            if i >= 2:  # two warm-up passes
                times.append(time.perf_counter() - t0)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CandidateFailure(FailureClass.SHAPE, f"at the latency resolution {size}x{size} "
                               f"the output is {got}, not {tuple(x.shape)}")
    times.sort()
    return 1000 * times[len(times) // 2]
