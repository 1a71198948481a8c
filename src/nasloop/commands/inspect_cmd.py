"""`nasloop runs | trace | show | report | checkpoints`: reading what a search did."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

EXIT_BAD_INPUT = 2
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
RunArg = Annotated[Path, typer.Argument(help="Run directory.")]


def _guard(fn: Callable[[], T]) -> T:
    """Run `fn`; a run that cannot be read is one line on stderr and exit code 2."""
    from nasloop.inspect.rundir import InspectError

    try:
        return fn()
    except InspectError as err:
        typer.echo(f"nasloop: {err}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _echo_json(data: Any, *, lines: bool = False) -> None:
    typer.echo(json.dumps(data, separators=(",", ":")) if lines else json.dumps(data, indent=2))


def runs_command(
    directory: Annotated[Path, typer.Argument(help="Folder holding run directories.")] = Path(
        "runs"
    ),
    as_json: JsonOpt = False,
) -> None:
    """The runs under a folder: status, candidates, valid rate, best metric, wall time."""
    from nasloop.inspect.queries import run_overview
    from nasloop.inspect.rundir import RunView, find_runs

    def rows() -> list[dict[str, Any]]:
        out = []
        for path in find_runs(directory):
            with RunView(path) as view:
                out.append(run_overview(view))
        return out

    found = _guard(rows)
    if as_json:
        _echo_json(found)
    elif not found:
        typer.echo(f"no runs under {directory}")
    else:
        from nasloop.inspect.text import runs_table

        _console().print(runs_table(found))


def trace_command(
    run_dir: RunArg,
    failure: Annotated[str | None, typer.Option(
        help="Only steps with this outcome: ok, duplicate or a failure class (shape, ...).")
    ] = None,
    role: Annotated[str | None, typer.Option(
        help="Only steps with a call of this agent (improver or generator), and its calls.")
    ] = None,
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep printing steps as a running search records them.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.05, help="Seconds between polls.")] = 1.0,
    as_json: Annotated[bool, typer.Option(
        "--json", help="JSON: a list, or with --follow one object per line.")] = False,
    cycles: Annotated[bool, typer.Option(
        "--cycles", help="Only the fine-tuning cycles: valid rate, metric, elites, reliability.")
    ] = False,
) -> None:
    """The timeline: per step the instruction, the triple, the candidate and its outcome
    (and, for a run with fine-tuning cycles, a table of the cycles after it)."""
    from nasloop.inspect.queries import select, timeline
    from nasloop.inspect.rundir import RunView
    from nasloop.inspect.text import trace_entry

    console = _console()

    def emit(row: dict[str, Any]) -> None:
        if as_json and follow:
            _echo_json(row, lines=True)
        elif not as_json:
            for line in trace_entry(row):
                console.print(line)

    def run() -> None:
        select([], role=role)  # a bad --role fails before anything is read
        if cycles:
            from nasloop.inspect.text import cycles_table

            with RunView(run_dir) as view:
                found = view.cycles()
            if as_json:
                _echo_json(found)
            elif found:
                console.print(cycles_table(found))
            else:
                typer.echo(f"{run_dir} has no fine-tuning cycles")
            return
        if follow:
            from nasloop.inspect.follow import follow as follow_rows

            RunView(run_dir).close()
            for row in follow_rows(run_dir, interval):
                for kept in select([row], failure=failure, role=role):
                    emit(kept)
            return
        with RunView(run_dir) as view:
            rows = select(timeline(view), failure=failure, role=role)
            found = view.cycles()
        if as_json:
            _echo_json(rows)
        for row in rows:
            emit(row)
        if found and not as_json:
            from nasloop.inspect.text import cycles_table

            console.print(cycles_table(found))

    try:
        _guard(run)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def show_command(
    run_dir: RunArg,
    candidate: Annotated[int, typer.Argument(help="Candidate id (#N in trace).")],
    full: Annotated[bool, typer.Option("--full", help="Whole prompts and answers.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """One candidate: code, diff against its parent, the prompts and raw answers that made
    it, its training log and metrics, its ancestors."""
    from nasloop.inspect.queries import candidate_detail
    from nasloop.inspect.rundir import RunView

    def run() -> dict[str, Any]:
        with RunView(run_dir) as view:
            return candidate_detail(view, candidate)

    detail = _guard(run)
    if as_json:
        _echo_json(detail)
        return
    from nasloop.inspect.text import show_renderables

    console = _console()
    for part in show_renderables(detail, full=full):
        console.print(part)


def report_command(
    run_dir: RunArg,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="HTML file to write (default: RUN/report.html).")] = None,
    top: Annotated[int, typer.Option(min=1, help="Candidates in the top-k table.")] = 5,
    window: Annotated[int, typer.Option(min=1, help="Sliding window of the valid rate.")] = 5,
    png: Annotated[Path | None, typer.Option(
        help="Also write a PNG screenshot (needs Chromium).")] = None,
    plot: Annotated[str | None, typer.Option(
        help="With --png: only this plot (metric, valid-rate, failures, acc-params, "
             "lineage).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """One self-contained HTML report with plots, the top-k table and the trace."""
    from nasloop.inspect import browser
    from nasloop.inspect.report import PLOTS, build_report, plot_page
    from nasloop.inspect.rundir import InspectError

    out = output or run_dir / "report.html"

    def run() -> dict[str, Any]:
        if plot is not None and png is None:
            raise InspectError("--plot picks what --png shows: give --png too")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(build_report(run_dir, top_k=top, window=window))
        result: dict[str, Any] = {"output": str(out), "plots": list(PLOTS), "png": None}
        if png is not None:
            if plot is None:
                browser.screenshot(out, png)
            else:
                page = png.with_suffix(".plot.html")
                page.write_text(plot_page(run_dir, plot, window))
                try:
                    browser.screenshot(page, png, width=660, height=320)
                finally:
                    page.unlink(missing_ok=True)
            result["png"] = str(png)
        return result

    result = _guard(run)
    if as_json:
        _echo_json(result)
    else:
        typer.echo(f"report: {result['output']}" + (f"  png: {png}" if png else ""))


def checkpoints_command(
    run_dir: RunArg,
    every: Annotated[bool, typer.Option(
        "--all", help="Every super-step, not only the first checkpoint of each loop step.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The run's LangGraph checkpoints; fork from one with `nasloop resume RUN --from-step N`."""
    from nasloop.inspect.checkpoints import list_checkpoints

    rows = _guard(lambda: list_checkpoints(run_dir, every))
    if as_json:
        _echo_json(rows)
        return
    from nasloop.inspect.text import checkpoints_table

    _console().print(checkpoints_table(rows))
    typer.echo(f"fork: nasloop resume {run_dir} --from-step N --out NEW_RUN")
