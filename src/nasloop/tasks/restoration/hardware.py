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


# ATen operators (as a recording holds them, `aten.NAME.OVERLOAD`) by the allow-list name
# they count as; others match an entry spelled alike (`max_pool2d` ~ `MaxPool2d`)
_ATEN_AS = {"convolution": "Conv2d", "_convolution": "Conv2d", "relu": "ReLU",
            "add": "add", "mul": "mul", "sub": "sub", "cat": "cat",
            "upsample_nearest2d": "Upsample", "_upsample_nearest_exact2d": "Upsample",
            "upsample_bilinear2d": "Upsample", "upsample_bicubic2d": "Upsample",
            "addmm": "Linear", "mm": "Linear", "hardtanh": "ReLU6",
            "max_pool2d_with_indices": "MaxPool2d",
            "_native_batch_norm_legit_no_training": "BatchNorm2d",
            "native_batch_norm": "BatchNorm2d", "_prelu_kernel": "PReLU"}
_UPSAMPLE_MODES = {"upsample_nearest2d": "nearest", "_upsample_nearest_exact2d": "nearest-exact",
                   "upsample_bilinear2d": "bilinear", "upsample_bicubic2d": "bicubic"}
# moving or making data, no arithmetic on it: allowed under any list
_PLUMBING = {"view", "_unsafe_view", "reshape", "clone", "t", "expand", "permute", "contiguous",
             "detach", "alias", "_to_copy", "slice", "select", "unsqueeze", "squeeze",
             "flatten", "lift_fresh", "lift_fresh_copy", "copy", "zeros", "zeros_like",
             "empty", "empty_like", "ones", "ones_like", "full", "arange", "split",
             "split_with_sizes", "chunk", "unbind", "transpose", "as_strided", "getitem"}


def _spelled(name: str) -> str:
    return name.lower().replace("_", "")


def recorded_ops(graph: dict[str, Any], shape_of: Any) -> list[UsedOp]:
    """The operators of a model recording (nasloop.sandbox.modelgraph), in the allow-list's
    names, plumbing left out; `shape_of(i)` is the shape of stored value i (None for the
    others), for the kernel size of a convolution."""
    found = []
    for value in graph.get("values", []):
        op = value.get("op") if isinstance(value, dict) else None
        if not isinstance(op, str):
            continue
        name = op.split(".")[1] if op.startswith("aten.") else op
        base = name.rstrip("_") if name not in _ATEN_AS else name
        if base in _PLUMBING:
            continue
        kernel = mode = None
        args = value.get("args") or []
        if _ATEN_AS.get(base) == "Conv2d" and len(args) > 1 and isinstance(args[1], dict):
            weight = shape_of(args[1].get("ref"))
            kernel = tuple(weight[2:]) if weight is not None and len(weight) > 2 else None
            if len(args) > 6 and args[6] is True:
                base = "ConvTranspose2d"
        if base in _UPSAMPLE_MODES:
            mode = _UPSAMPLE_MODES[base]
        found.append(UsedOp(_ATEN_AS.get(base, base), op, kernel, mode))
    return found


def check_recorded(graph: dict[str, Any], shape_of: Any, limits: HardwareLimits) -> None:
    """FORBIDDEN naming the first recorded operator outside the allow-list (an operator
    spelled like an allowed name, `max_pool2d` for `MaxPool2d`, counts as it)."""
    spelled = {_spelled(n): n for n in limits.allowed_ops}
    for op in recorded_ops(graph, shape_of):
        named = op if op.name in limits.allowed_ops else UsedOp(
            spelled.get(_spelled(op.name), op.name), op.where, op.kernel, op.mode)
        reason = why_forbidden(named, limits)
        if reason is not None:
            raise CandidateFailure(FailureClass.FORBIDDEN, f"{reason} (in the recorded model)")


LATENCY_REPEATS = 10  # timed forwards, after two untimed ones


def median_ms(forward: Any, x: Any, repeats: int = LATENCY_REPEATS) -> tuple[float, Any]:
    """(median CPU time in ms of `forward(x)` over `repeats` runs after two warm-up runs, on
    the threads the process has; the last output)."""
    import torch

    times = []
    with torch.no_grad():
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            out = forward(x)
            if i >= 2:
                times.append(time.perf_counter() - t0)
    times.sort()
    return 1000 * times[len(times) // 2], out


def latency_ms(model: nn.Module, channels: int, size: int, repeats: int = LATENCY_REPEATS
               ) -> float:
    """Median CPU time (ms) of one forward pass of a (1, channels, size, size) image, on the
    threads the process has."""
    import torch

    x = torch.rand(1, channels, size, size)
    model.eval()
    lat, out = median_ms(model, x, repeats)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CandidateFailure(FailureClass.SHAPE, f"at the latency resolution {size}x{size} "
                               f"the output is {got}, not {tuple(x.shape)}")
    return lat
