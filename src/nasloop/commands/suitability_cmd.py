"""`nasloop suitability build|eval|train`: cross-dataset suitability items from runs scored
on several datasets, a model's accuracy on them beside two baselines, and LoRA training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

suitability_app = typer.Typer(add_completion=False, no_args_is_help=True,
                              help="Which dataset suits a network: items, eval, training.")
EXIT_BAD_INPUT = 2


def _fail(msg: str) -> None:
    typer.echo(f"nasloop suitability: {msg}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _read(path: Path) -> list:
    from nasloop.suitability.items import ItemError, read_items

    try:
        items = read_items(path)
    except ItemError as err:
        _fail(str(err))
    if not items:
        _fail(f"{path} holds no items")
    return items


@suitability_app.command("build")
def build_command(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (scored on 2+ datasets).")],
    prompt: Annotated[list[str], typer.Option(
        "--prompt", help="normalized | metadata | code (repeat for several).")],
    out: Annotated[Path, typer.Option("--out", help="The items JSONL file to write.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """One item per network and dataset pair, labelled by the higher normalised accuracy."""
    from nasloop.suitability.items import ItemError, build_items, networks_from_runs, write_items

    try:
        nets = networks_from_runs(runs)
        items = [it for v in prompt for it in build_items(nets, v)]
    except ItemError as err:
        _fail(str(err))
    if not items:
        _fail("no network of these runs was trained on two or more datasets")
    write_items(items, out)
    counts = {"networks": len(nets), "items": len(items),
              "train": sum(it.split == "train" for it in items),
              "heldout": sum(it.split == "heldout" for it in items), "out": str(out)}
    typer.echo(json.dumps(counts) if as_json else
               f"{counts['items']} items from {counts['networks']} networks "
               f"({counts['train']} train, {counts['heldout']} held out) -> {out}")


@suitability_app.command("eval")
def eval_command(
    items_file: Annotated[Path, typer.Argument(help="Items JSONL (`suitability build`).")],
    model: Annotated[str, typer.Option("--model", help="hf:... | openai:URL | langchain:...")
                     ] = "",
    split: Annotated[str, typer.Option(help="heldout | train | all")] = "heldout",
    seed: Annotated[int, typer.Option(help="Seed of the model calls.")] = 0,
) -> None:
    """Accuracy overall, per dataset and per prompt variant, beside the majority-class and
    rule baselines (fit on the train split). Prints JSON."""
    from nasloop.suitability.scoring import accuracy_table, majority_baseline, rule_baseline

    items = _read(items_file)
    train = [it for it in items if it.split == "train"]
    test = items if split == "all" else [it for it in items if it.split == split]
    if not test:
        _fail(f"no {split} items in {items_file}")
    result = {"items": len(test),
              "majority": accuracy_table(test, [majority_baseline(train)(it) for it in test]),
              "rule": accuracy_table(test, [rule_baseline(train)(it) for it in test])}
    if model:
        from nasloop.config import ConfigError
        from nasloop.suitability.model import evaluate, load_model

        try:
            result["model"] = {"name": model, **evaluate(load_model(model), test, seed)}
        except ConfigError as err:
            _fail(str(err))
    typer.echo(json.dumps(result, indent=2))


@suitability_app.command("train")
def train_command(
    items_file: Annotated[Path, typer.Argument(help="Items JSONL (`suitability build`).")],
    model: Annotated[str, typer.Option("--model", help="hf:<hub-id-or-dir>")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the adapters and the log.")],
    epochs: Annotated[int, typer.Option(min=1, help="LoRA epochs.")] = 3,
    seed: Annotated[int, typer.Option()] = 0,
    lr: Annotated[float, typer.Option(help="The adapter's learning rate.")] = 2e-4,
) -> None:
    """LoRA on the train split through the fine-tuning trainer; the held-out networks'
    items scored before training and after each epoch (JSON lines, also epochs.jsonl)."""
    from nasloop.config import ConfigError
    from nasloop.finetune.lora import FinetuneError
    from nasloop.suitability.model import load_model, train

    if not model.startswith("hf:"):
        _fail("train needs an hf: model (LoRA runs on local weights)")
    items = _read(items_file)
    tr = [it for it in items if it.split == "train"]
    ho = [it for it in items if it.split == "heldout"]
    if not tr or not ho:
        _fail("the items need both a train and a held-out split")
    try:
        rows = train(load_model(model), tr, ho, out, epochs=epochs, seed=seed,
                     overrides={"learning_rate": lr})
    except (ConfigError, FinetuneError) as err:
        _fail(str(err))
    out.mkdir(parents=True, exist_ok=True)
    (out / "epochs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for r in rows:
        typer.echo(json.dumps(r))
