"""`nasloop study recipes`: the loss x optimizer grid on fixed models, in the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

study_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="Studies: grids of evaluations outside a search.")
EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"nasloop study: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _models(specs: list[str]) -> dict[str, str]:
    """name -> code of model files or built-in seed names."""
    from nasloop.config import ConfigError
    from nasloop.tasks.image_classification.seeds import list_seeds
    from nasloop.tasks.seedfiles import read_seed_file

    seeds, found = list_seeds(), {}
    for spec in specs:
        if spec in seeds and not Path(spec).exists():
            found[spec] = seeds[spec]
            continue
        try:
            name, code = read_seed_file(spec, "--models")
        except ConfigError as err:
            raise _fail(str(err).removeprefix("bad config: ")) from None
        found[name] = code
    return found


@study_app.command("recipes")
def study_recipes(
    models: Annotated[list[str], typer.Option("--models", help="Model files or built-in seed "
                                              "names (repeat the option).")],
    out: Annotated[Path, typer.Option(help="Study folder (results.jsonl, study.json, "
                                           "study.html); resumed when it exists.")],
    datasets: Annotated[str, typer.Option(help="Comma-separated datasets.")] = "digits",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs per cell.")] = 1,
    seeds: Annotated[int, typer.Option(min=1, help="Training seeds per cell (0..S-1).")] = 1,
    label_smoothing: Annotated[bool, typer.Option(
        "--label-smoothing", help="Add cross-entropy with label smoothing (outside the "
        "paper's grid).")] = False,
    config: Annotated[Path | None, typer.Option(help="Search config: training, sandbox and "
                                                     "executor (kind = ray fans out).")] = None,
    jobs: Annotated[int | None, typer.Option(min=1, help="Cells trained at once (local).")
                    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train every (loss, optimizer) of the grid on each model, dataset and seed; print and
    write the accuracy table, the best recipe per model, mean rank and wins per recipe."""
    import json

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from nasloop.config import ConfigError, load_config
    from nasloop.inspect.report import page
    from nasloop.sandbox.factory import build_executor
    from nasloop.tasks.recipes import report
    from nasloop.tasks.recipes.study import REPORT, Plan, run_study, summarize, write_summary
    from nasloop.tasks.recipes.vocab import GRID_LOSSES, LOSSES
    from nasloop.tasks.registry import build_task

    names = tuple(d.strip() for d in datasets.split(",") if d.strip())
    try:
        base = load_config(config, {"task.kind": "recipes", "train.epochs": epochs,
                                    "sandbox.max_in_flight": jobs})
        tasks = {d: build_task(base.model_copy(update={"data": base.data.model_copy(
            update={"dataset": d})})) for d in names}
        for t in tasks.values():
            t.brief()
    except ConfigError as err:
        raise _fail(str(err)) from None
    plan = Plan(_models(models), names, tuple(range(seeds)), epochs,
                LOSSES if label_smoothing else GRID_LOSSES)
    console = Console(stderr=True)
    runner = next(iter(tasks.values())).runner
    executor = build_executor(base, runner)

    def evaluate(todo: list[tuple[Any, ...]]) -> Iterator[Any]:
        from nasloop.tasks.recipes.ops import with_recipe
        from nasloop.tasks.recipes.study import Cell

        pending = {}
        for i, (model, dataset, seed, ep, loss, opt) in enumerate(todo):
            code = with_recipe(plan.models[model], loss, opt)
            job = tasks[dataset].job(i, code, seed=seed)
            pending[executor.submit(job)] = (model, dataset, seed, ep, loss, opt)
        while pending:
            for handle in list(pending):
                try:
                    r = executor.result(handle, timeout=0.05)
                except TimeoutError:
                    continue
                model, dataset, seed, ep, loss, opt = pending.pop(handle)
                acc = r.metrics.get("val_accuracy") if r.status == "ok" else None
                yield Cell(model, dataset, seed, ep, loss, opt, r.status, acc,
                           r.failure_class, (r.message or "")[:200] or None)
            time.sleep(0.01)

    progress = Progress("[bold]recipes[/]", BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console)
    bar = progress.add_task("grid", total=len(plan.keys()))
    try:
        with progress:
            cells = run_study(plan, out, evaluate, on_cell=lambda c: progress.advance(bar))
            progress.update(bar, completed=len(cells))
    finally:
        executor.close()
    summary = summarize(cells)
    write_summary(out, summary)
    (out / REPORT).write_text(page("nasloop recipe study", "<h1>Recipe study</h1>"
                                   + report.heatmaps_html(summary)), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    out_console = Console()
    for table in report.tables(summary):
        out_console.print(table)
    verdict = summary["best_everywhere"]
    out_console.print(f"best (or tied) everywhere: {', '.join(verdict)}" if verdict else
                      "no single recipe is best on every model and dataset")
    out_console.print(f"wrote {out / 'study.json'} and {out / REPORT}")
