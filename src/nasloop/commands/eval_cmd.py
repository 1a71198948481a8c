"""`nasloop eval FILE`: check and train one candidate file through the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
METRIC_ORDER = ("val_accuracy", "params", "flops", "epochs", "train_s", "check_s",
                "peak_mem_mb")


def _bad_input(message: str) -> typer.Exit:
    typer.echo(f"nasloop eval: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _check_dataset(dataset: str, data_dir: Path | None) -> None:
    """Reject an unknown dataset and fetch a torchvision one (outside the sandbox)."""
    from nasloop.sandbox.datasets import VISION, DatasetError, prepare_dataset

    key = dataset.lower()
    if key == "digits" or key.startswith("imagefolder:"):
        return
    if key not in VISION:
        raise _bad_input(f"unknown dataset {dataset!r}; choose digits, "
                         f"{', '.join(VISION)} or imagefolder:PATH")
    try:
        prepare_dataset(key, data_dir)
    except DatasetError as exc:
        raise _bad_input(str(exc)) from None


def _format_metric(name: str, value: float) -> str:
    if name in ("params", "flops", "epochs"):
        return f"{value:,.0f}"
    if name == "val_accuracy":
        return f"{value:.4f}"
    return f"{value:.3f}"


def eval_command(
    file: Annotated[Path, typer.Argument(help="Candidate Python file (LEMUR or bare form).")],
    dataset: Annotated[str, typer.Option(help="digits, mnist, cifar10, cifar100, svhn, "
                                              "imagenette, celeba-gender or imagefolder:PATH")
                       ] = "digits",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs.")] = 1,
    data_dir: Annotated[Path | None, typer.Option(help="Where torchvision datasets live.")
                        ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 32,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.01,
    max_params: Annotated[int, typer.Option(min=1, help="Parameter cap.")] = 2_000_000,
    time_limit: Annotated[float, typer.Option(min=0.1, help="Wall-clock limit (s).")] = 120.0,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Seed of the split and of training.")] = 0,
    isolation: Annotated[str, typer.Option(help="auto, bwrap or none.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Check and train one candidate file in the sandbox and print the result.

    Exit code 0 when it trained, 1 when the candidate failed, 2 on bad input.
    """
    try:
        code = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_input(f"cannot read {file}: {exc}") from None
    if isolation not in ("auto", "bwrap", "none"):
        raise _bad_input(f"--isolation must be auto, bwrap or none, not {isolation!r}")
    _check_dataset(dataset, data_dir)

    from nasloop.sandbox.executor import LocalExecutor
    from nasloop.sandbox.job import EvalJob

    job = EvalJob(candidate_id=0, code=code, dataset=dataset, epochs=epochs,
                  data_dir=str(data_dir) if data_dir else None, batch_size=batch_size, lr=lr,
                  max_params=max_params, time_limit_s=time_limit, device=device, seed=seed)
    mode: Literal["auto", "bwrap", "none"] = isolation  # type: ignore[assignment]
    try:
        with LocalExecutor(max_in_flight=1, mode="cold", isolation=mode) as executor:
            result = executor.result(executor.submit(job))
    except RuntimeError as exc:  # isolation="bwrap" without a usable bwrap
        raise _bad_input(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.model_dump(), indent=2))
    else:
        typer.echo(f"status:        {result.status}")
        typer.echo(f"form:          {result.form or '-'}")
        typer.echo(f"failure class: {result.failure_class or '-'}")
        typer.echo(f"message:       {result.message or '-'}")
        for name in sorted(result.metrics, key=lambda n: (n not in METRIC_ORDER,
                           METRIC_ORDER.index(n) if n in METRIC_ORDER else 0, n)):
            typer.echo(f"{name + ':':<15}{_format_metric(name, result.metrics[name])}")
        typer.echo(f"{'wall_s:':<15}{result.wall_s:.3f}")
        if result.status != "ok" and result.traceback_tail:
            typer.echo("traceback (candidate's own frames):")
            typer.echo(result.traceback_tail)
    raise typer.Exit(EXIT_OK if result.status == "ok" else EXIT_FAILED)
