"""`nasloop final RUN`: the run's top candidates trained longer, scored on the test split."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from nasloop.final import SeedRun

EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"nasloop final: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def final_command(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    top: Annotated[int, typer.Option(min=1, help="Candidates to train: the top K by the "
                                                 "search's proxy score.")] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs of each.")] = 10,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per candidate (the run's "
                                                   "seed and the next ones).")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Train the run's top K candidates for E epochs with S seeds in the sandbox and report
    their test-split score (never used for selection): mean and spread over the seeds, and
    the Spearman correlation between proxy ranks and final ranks. Written to RUN/final.json
    and shown by `nasloop report`."""
    from rich.console import Console

    from nasloop.commands.data_cmd import prepare_or_fail
    from nasloop.config import ConfigError
    from nasloop.display import final_table
    from nasloop.final import FinalError, pick, run_final
    from nasloop.inspect.rundir import InspectError, RunView
    from nasloop.rundir import RunDir, RunLocked
    from nasloop.runner import RunError, resume_config
    from nasloop.sandbox.factory import build_executor
    from nasloop.tasks.registry import build_task

    rd = RunDir(run_dir)
    try:
        config = resume_config(run_dir, {})
        task = build_task(config)
        with RunView(run_dir) as view:
            picked = pick(view.candidates(), task.objective, top)
    except (RunError, ConfigError, InspectError) as err:
        raise _fail(str(err)) from None
    if task.final_objective is None:
        raise _fail(f"the {task.kind} task has no held-out test split to report on")
    if not picked:
        raise _fail(f"{run_dir} has no trained candidate")
    prepare_or_fail(config.data.dataset, config.data.data_dir, prefix="nasloop final")
    console = Console(stderr=True, highlight=False)
    todo, metric = len(picked) * seeds, task.final_objective.metric
    done = [0]

    def on_result(cid: int, run: SeedRun) -> None:
        done[0] += 1
        got = (f"{metric} {run.score:.4f}" if run.score is not None
               else f"{run.failure_class}: {run.message}")
        console.print(f"{done[0]:>3}/{todo} #{cid} seed {run.seed}: {got}", markup=False)

    seed_list = [config.training_seed() + i for i in range(seeds)]
    try:
        with rd.hold():
            executor = build_executor(config, task.runner)
            try:
                report = run_final(task, executor, picked, epochs=epochs, seeds=seed_list,
                                   on_result=None if as_json else on_result)
            finally:
                executor.close()
                task.close()
            tmp = rd.final.with_suffix(".json.tmp")
            tmp.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, rd.final)
    except (RunLocked, FinalError) as err:
        raise _fail(str(err)) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        Console(highlight=False).print(final_table(report))
        typer.echo(f"final: {rd.final}")
