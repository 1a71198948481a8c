"""Train and validate one candidate in the *current* process (the sandbox child calls
`run_job`); the checks before training live in `checks`.

`dry_check` (re-exported from `checks`) is for trusted code only: it executes the candidate
in the caller's process without any isolation.
"""

from __future__ import annotations

import math
import resource
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from nasloop.sandbox.audit import GRAPH_FIELD
from nasloop.sandbox.classify import CandidateFailure, classify_exception, traceback_tail
from nasloop.sandbox.failures import FailureClass
from nasloop.tasks.image_classification.checks import (
    CODE_NAME,
    CheckInfo,
    build_model,
    check_output,
    dry_check,
    dry_forward,
    load_module,
    main_output,
    model_prm,
    unload_module,
)
from nasloop.tasks.image_classification.contract import detect_form
from nasloop.tasks.image_classification.prm import prm_table
from nasloop.tasks.image_classification.settings import TrainSettings

if TYPE_CHECKING:
    import torch
    from torch import nn

    from nasloop.data.split_files import CandidateData
    from nasloop.sandbox.job import EvalJob

__all__ = ["CheckInfo", "dry_check", "preload", "run_job", "warm_up"]


class LossGuard:
    """Raises NAN_LOSS as soon as a candidate's loss is not finite (and remembers it)."""

    def __init__(self) -> None:
        self.tripped = False

    def check(self, loss: Any) -> None:
        import torch

        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            self.tripped = True
            raise CandidateFailure(FailureClass.NAN_LOSS, f"loss became {loss.detach().sum()}")

    def wrap(self, fn: Any) -> Any:
        """A plain loss function, checked after each call."""

        def guarded(*args: Any, **kwargs: Any) -> Any:
            loss = fn(*args, **kwargs)
            self.check(loss)
            return loss

        return guarded


def _guard_lemur(model: nn.Module) -> LossGuard:
    """Watch the first loss of `self.criteria` (a tuple of losses or a single one).

    A loss module gets a forward hook: nothing of the model is replaced (a module attribute
    cannot be set to a non-module, and LEMUR files often set `self.criteria = nn.X()`).
    A plain function is wrapped."""
    import torch

    criteria = getattr(model, "criteria", None)
    if criteria is None or getattr(model, "optimizer", None) is None:
        raise CandidateFailure(FailureClass.CONTRACT,
                               "train_setup() must set self.criteria and self.optimizer")
    guard = LossGuard()
    many = isinstance(criteria, (tuple, list))
    first = criteria[0] if many and criteria else criteria
    if isinstance(first, torch.nn.Module):
        first.register_forward_hook(lambda module, args, out: guard.check(out))
    elif callable(first):
        wrapped = guard.wrap(first)
        model.criteria = type(criteria)([wrapped, *criteria[1:]]) if many else wrapped
    else:
        raise CandidateFailure(FailureClass.CONTRACT,
                               "self.criteria must be a loss or a tuple of losses")
    return guard


def _check_finite_params(model: nn.Module) -> None:
    import torch

    for p in model.parameters():
        if not bool(torch.isfinite(p.detach()).all()):
            raise CandidateFailure(FailureClass.NAN_LOSS, "parameters became NaN or inf")


def predict(model: nn.Module, x: torch.Tensor, num_classes: int, device: str,
            batch: int = 256) -> np.ndarray:
    """The class `model` predicts for each input (int64); the labels are not here."""
    import torch

    model.eval()
    found = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = main_output(model(x[i:i + batch].to(device)))
            check_output(out, len(x[i:i + batch]), num_classes)
            found.append(out.argmax(dim=1).cpu().numpy().astype(np.int64))
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


# Bound when the worker preloads this module, before any candidate code exists (a candidate
# may rebind torch._C's attributes; TensorBase itself and the builtins are immutable).
_SHAPE_OF: Any = None  # torch's own Tensor.shape getter
_NO_TORCH_FUNCTION: Any = None  # torch._C.DisableTorchFunction


def _bind_trusted() -> None:
    import torch

    global _SHAPE_OF, _NO_TORCH_FUNCTION
    _SHAPE_OF = torch._C.TensorBase.shape.__get__
    _NO_TORCH_FUNCTION = torch._C.DisableTorchFunction


def _parameters(model: nn.Module) -> list[Any]:
    """Every parameter registered in `model`'s module tree, each once, found through the
    modules' own `_modules`/`_parameters` dicts: a candidate's overrides of
    `named_parameters`, `named_modules`, `parameters` or of the dicts' methods do not
    hide one."""
    found: dict[int, Any] = {}
    seen: set[int] = set()
    stack = [model]
    while stack:
        module = stack.pop()
        if id(module) in seen:
            continue
        seen.add(id(module))
        for p in dict.values(object.__getattribute__(module, "_parameters")):
            if p is not None:
                found.setdefault(id(p), p)
        stack += [m for m in dict.values(object.__getattribute__(module, "_modules"))
                  if m is not None]
    return list(found.values())


def weight_shapes(model: nn.Module) -> list[list[int]]:
    """The shape of every parameter (what the trusted side counts and caps), read with
    torch's own shape getter while `__torch_function__` is off, so a Parameter subclass
    that claims another `shape`/`numel` is read as it is; an uninitialised lazy parameter
    holds no data and reads as [0]."""
    if _SHAPE_OF is None:
        _bind_trusted()
    with _NO_TORCH_FUNCTION():
        return [[int(d) for d in _SHAPE_OF(p)] for p in _parameters(model)]


class Augmented:
    """Training batches with `augment` applied to their inputs (labels untouched)."""

    def __init__(self, loader: Any, augment: Any) -> None:
        self.loader = loader
        self.augment = augment

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Any:
        for xb, yb in self.loader:
            yield self.augment(xb), yb


def _loader(splits: CandidateData, s: TrainSettings, seed: int, augment: Any = None) -> Any:
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(splits.train_x, splits.train_y),
                        batch_size=s.batch_size, shuffle=True, generator=gen)
    return loader if augment is None else Augmented(loader, augment)


def _make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    import torch

    if s.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=s.lr)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=s.lr)
    return torch.optim.SGD(model.parameters(), lr=s.lr, momentum=s.momentum)


def _bare_recipe(code: str, model: nn.Module, s: TrainSettings) -> tuple[Any, Any]:
    """(loss, optimizer) of a bare-form file: its `TRAIN_RECIPE` literal when it has one
    (read statically, never from the executed module), else cross-entropy and the settings'
    optimizer."""
    import torch

    from nasloop.tasks.recipes.vocab import RECIPE_NAME

    if RECIPE_NAME not in code:
        return torch.nn.CrossEntropyLoss(), _make_optimizer(model, s)
    from nasloop.agents.mutation.spec import MutationError
    from nasloop.tasks.recipes.ops import recipe_of
    from nasloop.tasks.recipes.runtime import make_loss, make_optimizer

    try:
        recipe = recipe_of(code)
    except MutationError as err:
        raise CandidateFailure(FailureClass.CONTRACT, f"{RECIPE_NAME}: {err.reason}") from None
    return (make_loss(recipe.loss),
            make_optimizer(recipe.optimizer, model.parameters(), s.lr, s.momentum))


def train_bare(model: nn.Module, splits: CandidateData, s: TrainSettings, seed: int,
               device: str, code: str = "", augment: Any = None) -> int:
    """Train a bare-form model: its recipe (cross-entropy and the settings' optimizer unless
    the file carries a TRAIN_RECIPE), cosine schedule per step."""
    import torch

    loader = _loader(splits, s, seed, augment)
    loss_fn, opt = _bare_recipe(code, model, s)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, s.epochs * len(loader)))
    for _ in range(s.epochs):
        model.train()
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            loss = loss_fn(main_output(model(xb)), yb)
            if not bool(torch.isfinite(loss.detach())):
                raise CandidateFailure(FailureClass.NAN_LOSS, f"loss became {loss.item()}")
            loss.backward()
            opt.step()
            sched.step()
    return s.epochs


def train_lemur(model: Any, splits: CandidateData, s: TrainSettings, seed: int,
                prm: dict[str, Any], augment: Any = None) -> int:
    """Honour the LEMUR form: train_setup(prm), then learn(train_data) once per epoch."""
    model.train_setup(prm)
    guard = _guard_lemur(model)
    loader = _loader(splits, s, seed, augment)
    for _ in range(s.epochs):
        model.train()
        model.learn(loader)
        if guard.tripped:
            raise CandidateFailure(FailureClass.NAN_LOSS, "loss became NaN or inf")
        _check_finite_params(model)
    return s.epochs


def _peak_mem_mb(device: str) -> float:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def preload() -> None:
    """Import what checking and training need, so a forked child imports nothing of ours."""
    import torch
    import torch.nn.parameter  # noqa: F401
    import torch.optim.lr_scheduler  # noqa: F401
    import torch.utils.data  # noqa: F401
    import torch.utils.flop_counter  # noqa: F401

    from nasloop.sandbox import isolation, outputs  # noqa: F401
    from nasloop.tasks.recipes import ops, runtime  # noqa: F401  (a bare file's TRAIN_RECIPE)

    _bind_trusted()
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
    """Pay the lazy first-use costs once in the worker (the flop counter pulls in
    torch._dynamo, ~3 s), so forked children do not.

    No backward pass and no CUDA query here: either would poison every later fork (the
    autograd engine starts per-device threads, CUDA's state cannot be forked)."""
    import torch

    from nasloop.sandbox import modelgraph
    from nasloop.tasks.image_classification.contract import detect_form

    with torch.random.fork_rng(devices=[]):
        module = load_module(WARM_UP_CODE)
        form = detect_form(WARM_UP_CODE)
        model = build_model(module, form, WARM_UP_CODE, (2, 1, 8, 8), 2, {}, "cpu")
        dry_forward(model, (2, 1, 8, 8), 2, 10**6, "cpu")
        model.train()
        with torch.no_grad():
            loss = torch.nn.CrossEntropyLoss()(model(torch.randn(2, 1, 8, 8)),
                                               torch.tensor([0, 1]))
        torch.isfinite(loss).all()
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        for name in ("sgd", "adam", "adamw"):
            opt = _make_optimizer(model, TrainSettings(optimizer=name))  # type: ignore[arg-type]
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
            if name == "sgd":  # Adam's step asks CUDA about graph capture: cuInit, no fork
                opt.step()
                sched.step()
        predict(model, torch.randn(4, 1, 8, 8), 2, "cpu")
        weight_shapes(model)
        # the first recording in a process costs ~0.9 s (the dispatch mode's imports)
        graph = modelgraph.export_graph(logits_only(model), torch.zeros(4, 1, 8, 8))
        modelgraph.GraphProgram.load(graph).run(torch.randn(3, 1, 8, 8))
    unload_module()


CHECK_ONLY = "check"  # EvalJob.op: stop after the pre-train check (parse .. parameter cap)
GRAPH_BATCH = 64  # the recorded graph's fixed batch (the auditor pads the last one)


def logits_only(model: Any) -> Any:
    """`model` wrapped so its forward returns the logits alone (`main_output`): the exported
    graph has one output."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: Any) -> Any:
            return main_output(self.inner(x))

    return Logits(model)


def run_job(job: EvalJob, splits: CandidateData, augment: Any = None,
            graph: bool = False) -> dict[str, Any]:
    """Check and train `job` here (only check it when `job.op` is "check"); return
    EvalResult fields (never raises for the candidate): with `graph`, the trained model as
    data (`modelgraph.export_graph`, under `GRAPH_FIELD`) for the auditor to predict with and
    count; otherwise the predictions on the validation (and, when asked, test) inputs as
    `outputs` and the weight shapes as `reported`. Timings go to `metrics`; the accuracy is
    computed outside (`scoring.score`). `augment` (the augmentation task's) is applied to the
    training inputs only; it has a `close()`, called before validation."""
    import torch

    from nasloop.sandbox import modelgraph
    from nasloop.sandbox.outputs import encode

    # bound before the candidate's code runs: rebinding module attributes cannot reach them
    trusted_dry, trusted_predict, trusted_shapes = dry_forward, predict, weight_shapes
    trusted_export = modelgraph.export_graph
    t0 = time.perf_counter()
    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    phase = "parse"
    try:
        s = TrainSettings.model_validate(job.params)
        form = detect_form(job.code)
        out["form"] = form
        torch.manual_seed(job.seed)
        phase = "import"
        module = load_module(job.code)
        in_shape = (s.batch_size, *splits.in_shape[1:])
        prm = model_prm(module, form, prm_table(s.lr, s.momentum, s.batch_size, s.epochs,
                                                s.prm))
        phase = "__init__"
        model = build_model(module, form, job.code, in_shape, splits.num_classes, prm,
                            job.device)
        phase = "dry forward"
        params, flops = trusted_dry(model, in_shape, splits.num_classes, s.max_params,
                                    job.device)
        check_s = time.perf_counter() - t0
        if job.op == CHECK_ONLY:
            out.update(status="ok", metrics={"params": float(params), "flops": float(flops),
                                             "check_s": check_s},
                       reported={"weights": trusted_shapes(model)})
            out["wall_s"] = time.perf_counter() - t0
            return out
        phase = "training"
        t1 = time.perf_counter()
        if form == "lemur":
            epochs = train_lemur(model, splits, s, job.seed, prm, augment)
        else:
            epochs = train_bare(model, splits, s, job.seed, job.device, job.code, augment)
        train_s = time.perf_counter() - t1
        if augment is not None:
            augment.close()
        if graph:
            phase = "export"
            # the cap again, on shapes read by torch's own getter (a disguised parameter
            # fools the dry check's count); the auditor counts the graph itself
            weights = sum(math.prod(shape) for shape in trusted_shapes(model))
            if weights > s.max_params:
                raise CandidateFailure(FailureClass.PARAMS,
                                       f"{weights} parameters > cap {s.max_params}")
            model.eval()
            # real inputs: a forward that branches on its data takes its usual path
            example = modelgraph.example_batch(splits.train_x, GRAPH_BATCH).to(job.device)
            exported = trusted_export(logits_only(model), example)
        else:
            phase = "validation"
            outputs = {"val": encode(trusted_predict(model, splits.val_x, splits.num_classes,
                                                     job.device))}
            if s.predict_test:
                outputs["test"] = encode(trusted_predict(model, splits.test_x,
                                                         splits.num_classes, job.device))
            shapes = trusted_shapes(model)
    except BaseException as exc:  # noqa: BLE001 - every candidate failure is classified
        cls, msg = classify_exception(exc, phase)
        if phase == "import" and isinstance(exc, SyntaxError):
            cls = FailureClass.SYNTAX
        out.update(failure_class=cls.value, message=msg,
                   traceback_tail=traceback_tail(exc, code_name=CODE_NAME))
        out["wall_s"] = time.perf_counter() - t0
        return out
    out.update(status="ok", metrics={
        "params": float(params), "flops": float(flops), "train_s": train_s,
        "epochs": float(epochs), "check_s": check_s, "peak_mem_mb": _peak_mem_mb(job.device)})
    if graph:
        out[GRAPH_FIELD] = exported
    else:
        out.update(outputs=outputs, reported={"weights": shapes})
    out["wall_s"] = time.perf_counter() - t0
    return out
