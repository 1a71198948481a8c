"""The `nasloop` command line (thin: parsing and printing; the work is elsewhere)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="nasloop: autonomous, LLM-driven neural architecture search.",
)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _fail(message: str) -> NoReturn:
    typer.echo(f"nasloop: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _search(config: Any, out: Path, agents: Any) -> None:
    from nasloop.display import candidate_line, make_console, summary_table
    from nasloop.memory.archive import Candidate
    from nasloop.rundir import RunDir
    from nasloop.runner import RunError, drive
    from nasloop.tasks.registry import task_class
    from nasloop.textsafe import for_markup

    console = make_console()
    done = RunDir(out).summary
    earlier = json.loads(done.read_text()).get("best_metric") if done.exists() else None
    best: list[float | None] = [earlier]
    budget = config.run.budget
    objective = task_class(config.task.kind).objective

    def on_candidate(cand: Candidate, step: int) -> None:
        new_best = cand.status == "ok" and objective.better(cand.score, best[0])
        if new_best:
            best[0] = cand.score
        console.print(candidate_line(cand, step, budget, new_best, objective))

    console.print(
        f"[bold]nasloop[/] searching into {for_markup(out)} (task {config.task.kind}, "
        f"budget {budget}, dataset {for_markup(config.data.dataset)})"
    )
    try:
        summary = drive(config, out, on_candidate=on_candidate, agents=agents)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: continue with `nasloop resume {out}`")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except RunError as err:
        _fail(str(err))
    console.print(summary_table(summary))
    rd = RunDir(out)
    console.print(f"best: {for_markup(rd.best)}   summary: {for_markup(rd.summary)}")


@app.command()
def run(
    config: Annotated[Path | None, typer.Option(help="Search config (TOML).")] = None,
    budget: Annotated[int | None, typer.Option(help="Candidates to generate.")] = None,
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/default"),
    seed: Annotated[int | None, typer.Option(help="Seed for agents, data and training.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset (default: digits).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where datasets live (default ~/.cache/nasloop/data).")
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Task kind (default: the config's, image-classification).")
    ] = None,
    max_wall_s: Annotated[float | None, typer.Option(help="Wall-time budget in seconds.")] = None,
    patience: Annotated[int | None, typer.Option(help="Stop after N without improvement.")] = None,
    generator: Annotated[
        str | None,
        typer.Option(
            help=(
                "Code Generator model: heuristic | hf:<id-or-dir> | openai:<base-url> | "
                "langchain:<provider>/<model>."
            )
        ),
    ] = None,
    improver: Annotated[
        str | None, typer.Option(help="Prompt Improver model (same forms as --generator).")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
) -> None:
    """Run a search and write archive, checkpoints, best.py and summary.json into --out."""
    from nasloop.config import ConfigError, load_config
    from nasloop.runner import RunError, new_run, refuse_existing
    from nasloop.sandbox.factory import check_isolation_policy

    if resume:
        if config or seed is not None or dataset or data_dir or generator or improver or task:
            _fail("--resume continues the saved config: drop --config/--seed/--dataset/"
                  "--task/models")
        _resume(out, budget, max_wall_s, patience)
        return
    overrides = {
        "task.kind": task,
        "run.budget": budget,
        "run.seed": seed,
        "data.dataset": dataset,
        "data.data_dir": str(data_dir) if data_dir else None,
        "run.max_wall_s": max_wall_s,
        "run.patience": patience,
        "agents.generator": generator,
        "agents.improver": improver,
    }
    try:
        cfg = load_config(config, overrides)
        refuse_existing(out)  # before any model is loaded
        check_isolation_policy(cfg)
        agents = _agents(cfg)  # a model that cannot serve the run fails here, not mid-run
    except (ConfigError, RunError) as err:
        _fail(str(err))
    from nasloop.commands.data_cmd import prepare_or_fail

    for name in cfg.data.datasets or [cfg.data.dataset]:  # outside the sandbox: no network there
        prepare_or_fail(name, cfg.data.data_dir)
    try:
        new_run(cfg, out)
    except (ConfigError, RunError) as err:
        _fail(str(err))
    _search(cfg, out, agents)


def _agents(config: Any) -> Any:
    """The run's (improver, generator), checked to serve fine-tuning when it is on. The
    task's description and seeds are checked first (an unknown dataset or a bad seed file
    is a config error before the run exists)."""
    from nasloop.agents.factory import build_agents
    from nasloop.finetune.cycle import check_finetune
    from nasloop.runner import load_seeds
    from nasloop.strategy.custom import build_strategy
    from nasloop.tasks.registry import build_task

    task = build_task(config)
    task.brief()
    load_seeds(task)
    agents = build_agents(task)
    check_finetune(config, agents)
    build_strategy(config)  # a strategy of the user's own that cannot be built fails here
    return agents


@app.command()
def finetune(
    config: Annotated[Path | None, typer.Option(help="Search config (TOML).")] = None,
    out: Annotated[Path, typer.Option(help="Run directory.")] = Path("runs/finetune"),
    generator: Annotated[
        str | None, typer.Option(help="The model to fine-tune: hf:<hub-id-or-dir>.")
    ] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="A `nasloop corpus` JSONL to train on with the elites.")
    ] = None,
    every: Annotated[int | None, typer.Option(help="C: candidates per cycle.")] = None,
    cycles: Annotated[
        int | None, typer.Option(help="Cycles to run (sets the budget: seeds + cycles x C).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for agents, data and training.")] = None,
) -> None:
    """A search in fine-tuning cycles: every C candidates, LoRA-train the generator on its
    elites (and a corpus) and generate the next cycle with the new adapter."""
    from nasloop.config import ConfigError, load_config
    from nasloop.runner import RunError, load_seeds, new_run, refuse_existing
    from nasloop.tasks.registry import build_task

    overrides: dict[str, Any] = {
        "finetune.enabled": True,
        "finetune.corpus": str(corpus) if corpus else None,
        "finetune.every": every,
        "agents.generator": generator,
        "run.seed": seed,
    }
    try:
        cfg = load_config(config, overrides)
        if cycles is not None:
            if cycles < 1:
                raise ConfigError("bad config: --cycles must be at least 1")
            budget = len(load_seeds(build_task(cfg))) + cycles * cfg.finetune.every
            cfg = load_config(config, {**overrides, "run.budget": budget})
        refuse_existing(out)
        agents = _agents(cfg)
        new_run(cfg, out)
    except (ConfigError, RunError) as err:
        _fail(str(err))
    _search(cfg, out, agents)


def _resume(out: Path, budget: int | None, max_wall_s: float | None, patience: int | None) -> None:
    from nasloop.config import ConfigError
    from nasloop.runner import RunError, resume_config

    try:
        cfg = resume_config(
            out, {"run.budget": budget, "run.max_wall_s": max_wall_s, "run.patience": patience}
        )
        agents = _agents(cfg)
    except (ConfigError, RunError) as err:
        _fail(str(err))
    _search(cfg, out, agents)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to continue.")],
    budget: Annotated[int | None, typer.Option(help="New candidate budget.")] = None,
    max_wall_s: Annotated[float | None, typer.Option(help="New wall-time budget.")] = None,
    patience: Annotated[int | None, typer.Option(help="New patience.")] = None,
    from_step: Annotated[
        int | None,
        typer.Option(
            "--from-step",
            help="Fork: continue from this loop step in a NEW run (see `nasloop checkpoints`).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="With --from-step: the new run directory (default: RUN-from-N)."),
    ] = None,
) -> None:
    """Continue an interrupted (or finished, with more budget) run from its last checkpoint."""
    if from_step is not None:
        from nasloop.inspect.fork import fork_run
        from nasloop.inspect.rundir import InspectError

        dst = out or run_dir.with_name(f"{run_dir.name}-from-{from_step}")
        try:
            fork_run(run_dir, from_step, dst)
        except InspectError as err:
            _fail(str(err))
        run_dir = dst
    elif out is not None:
        _fail("--out goes with --from-step")
    _resume(run_dir, budget, max_wall_s, patience)


def _register() -> None:
    from nasloop.commands.inspect_cmd import (
        checkpoints_command,
        report_command,
        runs_command,
        show_command,
        trace_command,
    )

    app.command("runs")(runs_command)
    app.command("trace")(trace_command)
    app.command("show")(show_command)
    app.command("report")(report_command)
    app.command("checkpoints")(checkpoints_command)

    from nasloop.commands.corpus_cmd import corpus_app
    from nasloop.commands.eval_cmd import eval_command

    app.add_typer(corpus_app, name="corpus", help="Build mutation corpora for fine-tuning.")

    from nasloop.commands.data_cmd import data_app
    from nasloop.commands.lemur_cmd import lemur_app
    from nasloop.commands.study_cmd import study_app

    app.add_typer(lemur_app, name="lemur", help="NN-Dataset trees: import and export.")

    app.add_typer(study_app, name="study", help="Studies: evaluation grids outside a search.")

    app.add_typer(data_app, name="data", help="Datasets: the table, and preparing one.")

    from nasloop.commands.suitability_cmd import suitability_app

    app.add_typer(suitability_app, name="suitability",
                  help="Which dataset suits a network: items, eval, LoRA training.")
    app.command("eval")(eval_command)
    from nasloop.commands.final_cmd import final_command

    app.command("final")(final_command)


_register()


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
