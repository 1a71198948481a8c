"""A candidate transform turned into what the trainer applies to training batches (runs in
the candidate's process only).

The file's `transform()` (or `transform(norm)`, the form of imported corpora: it gets the
identity normalisation, so a trailing `Normalize(*norm)` changes nothing) returns

- a torchvision transform (v2, or a classic `Compose`): applied to each training image as
  a uint8 tensor (C, H, W); a classic pipeline with `ToTensor` gets a PIL image instead;
- a plain function: applied to the whole batch as a uint8 tensor (B, C, H, W).

It must give back the same shape, as uint8 or as float in [0, 1] (a PIL image is read as
uint8). The trainer's standardised inputs are mapped to uint8 with the training split's
per-channel range and back after the transform. Each call is checked: a wrong shape is
failure `shape`, a wrong type or non-finite values `dtype`, and only training batches
reach it (`AugmentGuard` refuses any other tensor and is closed before validation).
"""

from __future__ import annotations

import inspect
import linecache
import time
import types
from typing import Any

from nasloop.sandbox.channel import without_channel
from nasloop.sandbox.classify import CandidateFailure
from nasloop.sandbox.failures import FailureClass

CODE_NAME = "<transform>"


def load_transform(code: str, channels: int) -> Any:
    """Execute the file and call its `transform`: the object it returns."""
    module = types.ModuleType("nasloop_transform")
    module.__file__ = CODE_NAME
    linecache.cache[CODE_NAME] = (len(code), None, code.splitlines(True), CODE_NAME)
    compiled = compile(code, CODE_NAME, "exec")
    # in the sandbox, where it cannot write the result (nasloop.sandbox.channel)
    without_channel(lambda: exec(compiled, module.__dict__))  # noqa: S102
    fn = getattr(module, "transform", None)
    if not callable(fn):
        raise CandidateFailure(FailureClass.CONTRACT, "the file defines no function transform()")
    try:
        takes = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        takes = 0
    norm = ((0.0,) * channels, (1.0,) * channels)
    made = fn(norm) if takes else fn()
    if not callable(made):
        raise CandidateFailure(FailureClass.CONTRACT, f"transform() returned "
                               f"{type(made).__name__}, not a transform or a function")
    return made


def _key(row_sum: Any) -> float:
    return round(float(row_sum), 3)


def _wants_pil(made: Any) -> bool:
    """A classic pipeline that converts PIL images to tensors itself."""
    steps = getattr(made, "transforms", None)
    return isinstance(steps, (list, tuple)) and any(
        type(s).__name__ in ("ToTensor", "PILToTensor") for s in steps)


class AugmentGuard:
    """The callable the trainer applies to each training batch (the candidate's transform,
    checked at every call). It accepts only batches drawn from `train_x` (same storage or
    same values as its rows, checked by fingerprint) and refuses any call once closed."""

    def __init__(self, made: Any, train_x: Any) -> None:
        import torch

        self.made = made
        self.batch_fn = inspect.isfunction(made) or inspect.ismethod(made)
        self.pil = not self.batch_fn and _wants_pil(made)
        dims = (0, 2, 3)
        self.lo = train_x.amin(dim=dims, keepdim=True)[0]
        self.span = (train_x.amax(dim=dims, keepdim=True)[0] - self.lo).clamp_min(1e-6)
        self.rows = {_key(v) for v in train_x.flatten(1).sum(1)}  # one sum per train image
        self.closed = False
        self.calls = 0
        self.seconds = 0.0
        self._torch = torch

    def close(self) -> None:
        self.closed = True

    def _check_source(self, xb: Any) -> None:
        if self.closed:
            raise CandidateFailure(FailureClass.FORBIDDEN,
                                   "the transform was called outside training")
        sums = xb.flatten(1).sum(1)
        if any(_key(v) not in self.rows for v in sums):
            raise CandidateFailure(FailureClass.FORBIDDEN,
                                   "the transform was given a batch not from the training split")

    def __call__(self, xb: Any) -> Any:
        self._check_source(xb)
        t0 = time.perf_counter()
        torch = self._torch
        img = ((xb - self.lo) / self.span * 255).round().clamp(0, 255).to(torch.uint8)
        if self.batch_fn:
            out = self._as_unit(self.made(img), tuple(img.shape))
        else:
            out = torch.stack([self._one(x) for x in img])
        self.calls += 1
        self.seconds += time.perf_counter() - t0
        return (out * self.span + self.lo).to(xb.dtype).contiguous()

    def _one(self, x: Any) -> Any:
        if self.pil:
            from torchvision.transforms.v2.functional import to_pil_image

            return self._as_unit(self.made(to_pil_image(x)), tuple(x.shape))
        return self._as_unit(self.made(x), tuple(x.shape))

    def _as_unit(self, out: Any, shape: tuple[int, ...]) -> Any:
        """`out` as float in [0, 1] of `shape`, or the failure saying why it is not."""
        torch = self._torch
        if not isinstance(out, torch.Tensor) and hasattr(out, "getbands"):  # a PIL image
            from torchvision.transforms.v2.functional import pil_to_tensor

            out = pil_to_tensor(out)
        if not isinstance(out, torch.Tensor):
            raise CandidateFailure(FailureClass.DTYPE, f"transform returned "
                                   f"{type(out).__name__}, not a tensor or image")
        if tuple(out.shape) != shape:
            raise CandidateFailure(FailureClass.SHAPE, f"transform returned shape "
                                   f"{tuple(out.shape)}, expected {shape}")
        if out.dtype == torch.uint8:
            return out.float() / 255
        if not out.is_floating_point():
            raise CandidateFailure(FailureClass.DTYPE, f"transform returned {out.dtype}, "
                                   "expected uint8 or float in [0, 1]")
        out = out.float()
        if not bool(torch.isfinite(out).all()):
            raise CandidateFailure(FailureClass.DTYPE, "transform returned NaN or inf")
        return out.clamp(0, 1)


def dry_run(guard: AugmentGuard, train_x: Any, batch: int, batches: int,
            time_limit_s: float) -> float:
    """Apply the transform to the first training batch; TIMEOUT when all the training
    batches would take over half the time limit at that pace. Returns seconds per batch."""
    t0 = time.perf_counter()
    guard(train_x[:batch])
    per_batch = time.perf_counter() - t0
    if per_batch * batches > 0.5 * time_limit_s:
        raise CandidateFailure(FailureClass.TIMEOUT, f"the transform takes {per_batch:.2f} s "
                               f"per batch: {per_batch * batches:.0f} s for the training, "
                               f"over half the {time_limit_s:g} s limit")
    guard.calls = 0
    guard.seconds = 0.0
    return per_batch
