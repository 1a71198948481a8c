"""Build a model file in-process (trusted code only: our own seeds and mutations of them)."""

from __future__ import annotations

import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from nasloop.agents.mutation.spec import MutationError
from nasloop.sandbox.channel import without_channel

Form = Literal["lemur", "bare"]
DEFAULT_PRM: dict[str, Any] = {"lr": 0.01, "momentum": 0.9, "dropout": 0.2, "batch": 32}
# input shapes tried, in order, when the caller does not name one
PROBE_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (2, 1, 32, 32),
    (2, 3, 32, 32),
    (2, 1, 28, 28),
    (2, 3, 64, 64),
    (2, 3, 224, 224),
)


@contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (tiny probe passes: threads only cost)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_module(code: str, name: str = "candidate") -> types.ModuleType:
    """Execute the file as a fresh module; MutationError on any failure."""
    try:
        compiled = compile(code, f"<{name}>", "exec")
    except SyntaxError as err:
        raise MutationError(f"the file fails to load: SyntaxError: {err}") from None
    return load_source(compiled, {}, name)


def load_source(
    compiled: types.CodeType, extra: dict[str, Any], name: str = "candidate"
) -> types.ModuleType:
    """Execute compiled module code (with ``extra`` globals); MutationError on any failure."""
    import sys

    module = types.ModuleType(name)
    module.__dict__.update(extra)
    # @dataclass (and typing's get_type_hints) look the defining module up in sys.modules
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        without_channel(lambda: exec(compiled, module.__dict__))  # the sandbox's analysis
    except Exception as err:  # noqa: BLE001 - any failure of the file becomes a reason
        raise MutationError(f"the file fails to load: {type(err).__name__}: {err}") from None
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
    if not isinstance(getattr(module, "Net", None), type):
        raise MutationError("the file defines no class Net")
    return module


def detect_form(module: types.ModuleType) -> Form:
    """LEMUR when supported_hyperparameters() exists, else bare."""
    return "lemur" if callable(getattr(module, "supported_hyperparameters", None)) else "bare"


def output_shape(num_classes: int | tuple[int, ...]) -> tuple[int, ...]:
    """A sample's output shape: ``(num_classes,)`` for a classifier, or the shape itself when
    a tuple is given (an image-to-image model's ``(C, H, W)``)."""
    return tuple(num_classes) if isinstance(num_classes, tuple) else (num_classes,)


def instantiate(module: types.ModuleType, in_shape: Sequence[int], num_classes: int) -> Any:
    """Construct ``Net`` for the given input shape, in whichever form the file uses."""
    net_cls = module.Net
    if detect_form(module) == "lemur":
        prm = dict(DEFAULT_PRM)
        try:
            for key in module.supported_hyperparameters():
                prm.setdefault(key, 0.1)
        except Exception:  # noqa: BLE001
            pass
        return net_cls(tuple(in_shape), output_shape(num_classes), prm, "cpu")
    try:
        return net_cls(tuple(in_shape), output_shape(num_classes))
    except TypeError:
        return net_cls()


def forward_check(model: Any, in_shape: Sequence[int], num_classes: int) -> None:
    """Run one eval-mode forward pass; raise MutationError unless the logits are (B, classes)."""
    import torch

    model.eval()
    with torch.no_grad(), single_thread():
        try:
            out = model(torch.randn(*in_shape))
        except Exception as err:  # noqa: BLE001
            raise MutationError(f"forward fails: {type(err).__name__}: {err}") from None
    expected = (in_shape[0], *output_shape(num_classes))
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != expected:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise MutationError(f"forward returns {got}, expected {expected}")


def backward_check(code: str, in_shape: Sequence[int], num_classes: int | tuple[int, ...]
                   ) -> None:
    """Build the model and run one train-mode forward and backward pass on a batch of 2;
    MutationError when gradients cannot be computed (e.g. an in-place op overwrote a tensor
    saved for backward). The dry check runs without gradients, so it cannot see this."""
    import torch

    module = load_module(code)
    shape = (2, *tuple(in_shape)[1:])
    with torch.random.fork_rng(devices=[]), single_thread():
        torch.manual_seed(0)
        try:
            model = instantiate(module, shape, num_classes)
            model.train()
            out = model(torch.randn(*shape))
            if isinstance(out, (tuple, list)):
                out = out[0]
            out.float().square().mean().backward()
        except Exception as err:  # noqa: BLE001 - any failure becomes a reason
            raise MutationError(f"backward fails: {type(err).__name__}: {err}"[:300]) from None


def build(
    code: str, in_shape: Sequence[int] | None = None, num_classes: int = 10
) -> tuple[Any, tuple[int, ...], Form]:
    """Load, construct and forward-check the model; with no shape, probe the usual ones."""
    import torch

    module = load_module(code)
    form = detect_form(module)
    shapes = [tuple(in_shape)] if in_shape is not None else list(PROBE_SHAPES)
    first_error: MutationError | None = None
    for shape in shapes:
        torch.manual_seed(0)
        try:
            model = instantiate(module, shape, num_classes)
        except Exception as err:  # noqa: BLE001
            error = MutationError(f"Net() fails: {type(err).__name__}: {err}")
        else:
            try:
                forward_check(model, shape, num_classes)
                return model, shape, form
            except MutationError as err:
                error = err
        first_error = first_error or error
    assert first_error is not None
    raise first_error


def count_params(model: Any) -> int:
    """Trainable parameter count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_flops(model: Any, in_shape: Sequence[int]) -> int:
    """Multiply-accumulates x2 of conv and linear layers for one sample (forward only)."""
    import torch
    from torch import nn

    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.modules.conv._ConvNd):
            per_out = module.weight.shape[1] * int(torch.tensor(module.weight.shape[2:]).prod())
            total += 2 * per_out * output[0].numel()
        elif isinstance(module, nn.Linear):
            total += 2 * module.in_features * output[0].numel()

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
    ]
    try:
        model.eval()
        with torch.no_grad(), single_thread():
            model(torch.zeros(1, *in_shape[1:]))
    finally:
        for handle in handles:
            handle.remove()
    return total
