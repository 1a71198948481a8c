"""`nasloop lemur import SRC` and `nasloop lemur export SRC OUT`: NN-Dataset trees in and out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

lemur_app = typer.Typer(add_completion=False, no_args_is_help=True,
                        help="The LEMUR NN Dataset's layout: import models and results, "
                             "export a run's.")
EXIT_BAD_INPUT = 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"nasloop lemur: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


@lemur_app.command("import")
def lemur_import(
    src: Annotated[Path, typer.Argument(help="An NN-Dataset tree (nn/ and stat/, or ab/nn/).")],
    out: Annotated[Path, typer.Option(help="Folder for seeds/*.py and records.jsonl.")],
) -> None:
    """Read every model and its recorded trials: the models become seed files, the
    (model, task, dataset, metric, epoch) trial lists records with their accuracies."""
    from nasloop.lemur.tree import RECORDS, read_tree, write_records

    try:
        report = read_tree(src)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    seeds = out / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    names = sorted({r.name for r in report.records})
    for r in report.records:
        (seeds / f"{r.name}.py").write_text(r.code, encoding="utf-8")
    write_records(report.records, out / RECORDS)
    typer.echo(f"{report.models} models, {len(names)} with results, {len(report.records)} "
               f"records -> {out / RECORDS}; seed files in {seeds}")
    for path, why in sorted(report.skipped.items()):
        typer.echo(f"  skipped {path}: {why}")


@lemur_app.command("export")
def lemur_export(
    src: Annotated[Path, typer.Argument(help="A run directory, or an import's records.jsonl.")],
    out: Annotated[Path, typer.Argument(help="Where to write nn/ and stat/.")],
) -> None:
    """Write a run's valid candidates and their results (or imported records) in the
    NN-Dataset layout, so they can be contributed back."""
    from nasloop.inspect.rundir import InspectError
    from nasloop.lemur.run_export import run_records
    from nasloop.lemur.tree import read_records, write_tree

    try:
        records = read_records(src) if src.is_file() else run_records(src)
    except (InspectError, OSError, ValueError) as exc:
        raise _fail(f"{src}: {str(exc).splitlines()[0] if str(exc) else exc}") from None
    write_tree(records, out)
    typer.echo(f"{len(records)} records -> {out}/nn, {out}/stat")
