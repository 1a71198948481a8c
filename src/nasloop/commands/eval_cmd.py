"""`nasloop eval FILE`: evaluate one candidate file through the sandbox, as the task of a
config (or `--task`) evaluates it in a run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
METRIC_ORDER = ("params", "flops", "epochs", "train_s", "check_s", "peak_mem_mb")


def _bad_input(message: str) -> typer.Exit:
    typer.echo(f"nasloop eval: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _prepare_data(dataset: str, data_dir: str | None) -> None:
    """Fetch a torchvision dataset when the network allows (outside the sandbox)."""
    from nasloop.data.loaders import prepare_dataset
    from nasloop.data.table import DatasetError

    try:
        prepare_dataset(dataset, data_dir)
    except DatasetError as exc:
        raise _bad_input(str(exc)) from None


def _format_metric(name: str, value: float, metric: str) -> str:
    if name in ("params", "flops", "epochs"):
        return f"{value:,.0f}"
    if name == metric:
        return f"{value:.4f}"
    return f"{value:.3f}"


def eval_command(
    file: Annotated[Path, typer.Argument(help="Candidate Python file.")],
    config: Annotated[Path | None, typer.Option(help="Search config (TOML): its task, data, "
                                                     "training and sandbox settings.")] = None,
    task: Annotated[str | None, typer.Option(help="Task kind (default: the config's, "
                                                  "image-classification).")] = None,
    dataset: Annotated[str | None, typer.Option(help="digits, mnist, cifar10, cifar100, svhn, "
                                                     "imagenette, celeba-gender or "
                                                     "imagefolder:PATH")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where torchvision datasets live.")
                        ] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    max_params: Annotated[int | None, typer.Option(min=1, help="Parameter cap.")] = None,
    time_limit: Annotated[float | None, typer.Option(min=0.1, help="Wall-clock limit (s).")
                          ] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda or cuda:N.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split and of training.")] = None,
    isolation: Annotated[str | None, typer.Option(help="auto, bwrap or none.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Evaluate one candidate file in the sandbox and print the result.

    Exit code 0 when it trained, 1 when the candidate failed, 2 on bad input.
    """
    from nasloop.config import ConfigError, load_config
    from nasloop.tasks.registry import build_task

    try:
        code = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_input(f"cannot read {file}: {exc}") from None
    overrides: dict[str, Any] = {
        "task.kind": task, "data.dataset": dataset, "train.epochs": epochs,
        "data.data_dir": str(data_dir) if data_dir else None, "train.batch_size": batch_size,
        "train.lr": lr, "train.max_params": max_params, "sandbox.limits.time_s": time_limit,
        "train.device": device, "run.seed": seed, "sandbox.isolation": isolation,
    }
    try:
        cfg = load_config(config, overrides)
        the_task = build_task(cfg)
        the_task.brief()  # an unknown dataset is bad input, before any sandbox starts
    except ConfigError as err:
        raise _bad_input(str(err)) from None
    _prepare_data(cfg.data.dataset, cfg.data.data_dir)

    from nasloop.sandbox.executor import LocalExecutor

    job = the_task.job(0, code)
    mode: Literal["auto", "bwrap", "none"] = cfg.sandbox.isolation
    try:
        with LocalExecutor(max_in_flight=1, mode="cold", isolation=mode,
                           runner=the_task.runner) as executor:
            result = executor.result(executor.submit(job))
    except RuntimeError as exc:  # isolation="bwrap" without a usable bwrap
        raise _bad_input(str(exc)) from None
    metric = the_task.objective.metric
    if as_json:
        typer.echo(json.dumps({"file": str(file), **result.model_dump()}, indent=2))
    else:
        from nasloop.textsafe import plain

        typer.echo(f"status:        {result.status}")
        typer.echo(f"form:          {result.form or '-'}")
        typer.echo(f"failure class: {result.failure_class or '-'}")
        typer.echo(f"message:       {plain(result.message or '-')}")
        order = (metric, *METRIC_ORDER)
        for name in sorted(result.metrics, key=lambda n: (n not in order,
                           order.index(n) if n in order else 0, n)):
            typer.echo(f"{name + ':':<15}{_format_metric(name, result.metrics[name], metric)}")
        typer.echo(f"{'wall_s:':<15}{result.wall_s:.3f}")
        if result.status != "ok" and result.traceback_tail:
            typer.echo("traceback (candidate's own frames):")
            typer.echo(plain(result.traceback_tail))
    raise typer.Exit(EXIT_OK if result.status == "ok" else EXIT_FAILED)
