"""`nasloop data list` and `nasloop data prepare NAME`: the dataset table, and fetching a
dataset outside the sandbox (which has no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

data_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Datasets: the table, and preparing one on disk.")
EXIT_BAD_INPUT = 2


def prepare_or_fail(name: str, data_dir: str | Path | None, prefix: str = "nasloop") -> None:
    """Make `name` available under `data_dir` (download where the network allows); a
    one-line error naming the dataset, where it looked and how to provide it otherwise."""
    from nasloop.data.loaders import prepare_dataset
    from nasloop.data.table import DatasetError

    try:
        prepare_dataset(name, data_dir)
    except DatasetError as exc:
        typer.echo(f"{prefix}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@data_app.command("list")
def data_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
) -> None:
    """The dataset table: name, channels, size, classes, train size, source, description."""
    from dataclasses import asdict

    from nasloop.data.table import DATASETS

    rows = [asdict(d) for d in DATASETS.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for d in rows:
        typer.echo(f"{d['name']:<16} {d['channels']}x{d['size']}x{d['size']:<4} "
                   f"{d['classes']:>4} classes  {d['source']:<22} {d['description']}")
    typer.echo("imagefolder:PATH  an image folder (one sub-folder per class)")


@data_app.command("prepare")
def data_prepare(
    name: Annotated[str, typer.Argument(help="A dataset of the table (see `nasloop data list`).")],
    data_dir: Annotated[Path | None, typer.Option(help="Where datasets live "
                                                       "(default ~/.cache/nasloop/data).")
                        ] = None,
) -> None:
    """Download NAME into DATA_DIR where the network allows; offline, say where it was
    looked for and how to provide it. digits and its variants ship offline."""
    from nasloop.data.table import DatasetError, dataset_info

    try:
        info = dataset_info(name)
    except DatasetError as exc:
        typer.echo(f"nasloop: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    prepare_or_fail(name, data_dir)
    where = "ships with scikit-learn" if info.source.startswith("sklearn") else (
        "read from its folder" if info.source.startswith("folder:") else
        f"ready in {Path(data_dir or '~/.cache/nasloop/data').expanduser() / info.name}")
    typer.echo(f"{info.name}: {where}")
