"""Check, train and run one restoration candidate in the *current* process (the sandbox
child calls `run_job`; the trusted side trains the teacher with `train_net`).

Order of the checks before training: import, build, dry forward on a batch of 2 (output
shape = input shape), the operator allow-list on the traced graph, the parameter cap, the
CPU latency at the configured resolution (and its cap). The trainer owns the loss (MSE) and
the optimizer (Adam); the candidate owns the architecture.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

from nasloop.sandbox.classify import CandidateFailure, classify_exception, traceback_tail
from nasloop.sandbox.failures import FailureClass

if TYPE_CHECKING:
    import types

    import torch
    from torch import nn

    from nasloop.sandbox.job import EvalJob
    from nasloop.tasks.restoration.data import RestorationInputs

CHECK_ONLY = "check"
GRAPH_BATCH = 32  # the recorded graph's fixed batch (the auditor pads the last one)


def build_net(module: types.ModuleType, form: str, code: str, in_shape: tuple[int, ...],
              prm: dict[str, Any], device: str) -> nn.Module:
    """`Net(in_shape, out_shape, prm, device)` (LEMUR form) or `Net(in_shape, out_shape)` /
    `Net()` (bare form); out_shape is in_shape[1:]."""
    import torch

    from nasloop.tasks.image_classification.contract import init_arity

    net_cls = getattr(module, "Net", None)
    if not isinstance(net_cls, type) or not issubclass(net_cls, torch.nn.Module):
        raise CandidateFailure(FailureClass.CONTRACT, "Net is not a torch.nn.Module subclass")
    out_shape = tuple(in_shape[1:])
    if form == "lemur":
        model = net_cls(tuple(in_shape), out_shape, prm, torch.device(device))
    else:
        model = net_cls(*(() if not init_arity(code) else (tuple(in_shape), out_shape)))
    return model.to(device)


def dry_forward(model: nn.Module, in_shape: tuple[int, ...], device: str) -> None:
    """SHAPE unless a batch of 2 comes back as a tensor of the input's shape."""
    import torch

    x = torch.rand(2, *in_shape[1:], device=device)
    model.eval()
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, torch.Tensor):
        raise CandidateFailure(FailureClass.SHAPE,
                               f"forward returned {type(out).__name__}, not a tensor")
    if tuple(out.shape) != tuple(x.shape):
        raise CandidateFailure(FailureClass.SHAPE, f"output shape {tuple(out.shape)} != input "
                                                   f"shape {tuple(x.shape)}")


def train_net(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
              batch_size: int, seed: int, device: str) -> None:
    """MSE training with Adam and a cosine schedule; NAN_LOSS when the loss is not finite."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * len(loader)))
    loss_fn = torch.nn.MSELoss()
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb.to(device)), yb.to(device))
            if not bool(torch.isfinite(loss.detach())):
                raise CandidateFailure(FailureClass.NAN_LOSS, f"loss became {loss.item()}")
            loss.backward()
            opt.step()
            sched.step()


def restore(model: nn.Module, x: torch.Tensor, device: str, batch: int = 256) -> np.ndarray:
    """The model's outputs on `x`, float32 (N, C, H, W)."""
    import torch

    model.eval()
    found = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch].to(device))
            if not isinstance(out, torch.Tensor):
                raise CandidateFailure(FailureClass.SHAPE, "forward returned no tensor")
            found.append(out.detach().float().cpu().numpy())
    return np.concatenate(found) if found else np.zeros((0, *x.shape[1:]), np.float32)


def preload() -> None:
    """What the candidate's process needs, imported before the worker forks."""
    import torch.fx  # noqa: F401

    from nasloop.tasks.image_classification import trainer

    trainer.preload()


def run_job(job: EvalJob, data: RestorationInputs, graph: bool = False) -> dict[str, Any]:
    """Check and train `job` here; return EvalResult fields: with `graph`, the trained model
    as data, recorded twice (on validation inputs and on one image at the latency
    resolution: `GRAPH_FIELD` {"val", "latency"}) for the auditor to restore with, count and
    time; otherwise the restored validation images as `outputs`. PSNR and SSIM are computed
    outside (`scoring.score`)."""
    import torch

    from nasloop.sandbox import modelgraph
    from nasloop.sandbox.audit import GRAPH_FIELD
    from nasloop.sandbox.outputs import encode
    from nasloop.tasks.image_classification.checks import CODE_NAME, load_module, model_prm
    from nasloop.tasks.image_classification.prm import prm_table
    from nasloop.tasks.image_classification.trainer import weight_shapes
    from nasloop.tasks.restoration.contract import detect_form
    from nasloop.tasks.restoration.hardware import check_allowed, latency_ms
    from nasloop.tasks.restoration.settings import RestorationSettings

    trusted = (dry_forward, check_allowed, latency_ms, restore, weight_shapes, train_net,
               modelgraph.export_graph)
    dry, allowed, latency, restore_, shapes_of, train, export = trusted
    t0 = time.perf_counter()
    out: dict[str, Any] = {"candidate_id": job.candidate_id, "status": "failed"}
    phase = "parse"
    try:
        s = RestorationSettings.model_validate(job.params)
        form = detect_form(job.code)
        out["form"] = form
        torch.manual_seed(job.seed)
        phase = "import"
        module = load_module(job.code)
        in_shape = (s.batch_size, *data.in_shape[1:])
        prm = model_prm(module, form, prm_table(s.lr, 0.9, s.batch_size, s.epochs, s.prm))
        phase = "__init__"
        model = build_net(module, form, job.code, in_shape, prm, job.device)
        phase = "dry forward"
        dry(model, in_shape, job.device)
        phase = "hardware check"
        allowed(model, s)
        shapes = shapes_of(model)
        params = sum(int(np.prod(p)) for p in shapes)
        if params > s.max_params:
            raise CandidateFailure(FailureClass.PARAMS, f"{params} parameters > cap {s.max_params}")
        lat = latency(model.cpu(), in_shape[1], s.latency_size)
        model.to(job.device)
        if s.max_latency_ms is not None and lat > s.max_latency_ms:
            raise CandidateFailure(FailureClass.TIMEOUT, f"CPU latency {lat:.3f} ms per "
                                   f"{s.latency_size}x{s.latency_size} image > cap "
                                   f"{s.max_latency_ms:g} ms")
        metrics = {"params": float(params), "latency_ms": lat,
                   "check_s": time.perf_counter() - t0}
        if job.op == CHECK_ONLY:
            out.update(status="ok", metrics=metrics, reported={"weights": shapes})
            out["wall_s"] = time.perf_counter() - t0
            return out
        phase = "training"
        t1 = time.perf_counter()
        train(model, data.train_x, data.train_y, epochs=s.epochs, lr=s.lr,
              batch_size=s.batch_size, seed=job.seed, device=job.device)
        metrics.update(train_s=time.perf_counter() - t1, epochs=float(s.epochs))
        if graph:
            phase = "export"
            model.eval()
            example = modelgraph.example_batch(data.val_x, GRAPH_BATCH).to(job.device)
            graphs = {"val": export(model, example)}
            model.cpu()
            graphs["latency"] = export(model, torch.rand(1, in_shape[1], s.latency_size,
                                                         s.latency_size))
        else:
            phase = "validation"
            outputs = {"val": encode(restore_(model, data.val_x, job.device))}
            shapes = shapes_of(model)
    except BaseException as exc:  # noqa: BLE001 - every candidate failure is classified
        cls, msg = classify_exception(exc, phase)
        if phase == "import" and isinstance(exc, SyntaxError):
            cls = FailureClass.SYNTAX
        out.update(failure_class=cls.value, message=msg,
                   traceback_tail=traceback_tail(exc, code_name=CODE_NAME))
        out["wall_s"] = time.perf_counter() - t0
        return out
    out.update(status="ok", metrics=metrics)
    if graph:
        out[GRAPH_FIELD] = graphs
    else:
        out.update(outputs=outputs, reported={"weights": shapes})
    out["wall_s"] = time.perf_counter() - t0
    return out
