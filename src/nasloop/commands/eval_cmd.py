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


def _format_metric(name: str, value: float, metric: str) -> str:
    if name in ("params", "flops", "epochs"):
        return f"{value:,.0f}"
    if name == metric:
        return f"{value:.4f}"
    return f"{value:.3f}"


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad_input(f"cannot read {file}: {exc}") from None


def _print_result(file: Path, result: Any, metric: str, many: bool) -> None:
    from nasloop.textsafe import plain

    if many:
        typer.echo(f"== {plain(file)}")
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


def eval_command(
    files: Annotated[list[Path], typer.Argument(help="Candidate Python file(s).")],
    config: Annotated[Path | None, typer.Option(help="Search config (TOML): its task, data, "
                                                     "training and sandbox settings.")] = None,
    task: Annotated[str | None, typer.Option(help="Task kind (default: the config's, "
                                                  "image-classification).")] = None,
    dataset: Annotated[str | None, typer.Option(help="A dataset of the table (`nasloop data "
                                                     "list`) or imagefolder:PATH.")] = None,
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
    check_only: Annotated[bool, typer.Option("--check-only", help="Stop after the checks "
                                             "before training (parse, form, build, dry "
                                             "forward, parameter cap).")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Files evaluated at once.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file (JSON "
                                          "Lines), each naming its `file`.")] = False,
) -> None:
    """Evaluate candidate files in one warm sandbox and print each result.

    Exit code 0 when every file passed, 1 when any candidate failed, 2 on bad input.
    """
    from nasloop.config import ConfigError, load_config
    from nasloop.tasks.registry import build_task

    codes = [_read(f) for f in files]
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
    from nasloop.commands.data_cmd import prepare_or_fail

    prepare_or_fail(cfg.data.dataset, cfg.data.data_dir, "nasloop eval")

    from nasloop.sandbox.executor import LocalExecutor

    op = "check" if check_only else "evaluate"
    mode: Literal["auto", "bwrap", "none"] = cfg.sandbox.isolation
    metric = the_task.objective.metric
    failed = False
    try:
        with LocalExecutor(max_in_flight=min(jobs, len(files)), mode="warm", isolation=mode,
                           runner=the_task.runner) as executor:
            handles = [executor.submit(the_task.job(i, code, op=op))
                       for i, code in enumerate(codes)]
            for file, handle in zip(files, handles, strict=True):
                result = executor.result(handle)
                failed |= result.status != "ok"
                if as_json:
                    typer.echo(json.dumps({"file": str(file), **result.model_dump()}))
                else:
                    _print_result(file, result, metric, len(files) > 1)
    except RuntimeError as exc:  # isolation="bwrap" without a usable bwrap
        raise _bad_input(str(exc)) from None
    raise typer.Exit(EXIT_FAILED if failed else EXIT_OK)
