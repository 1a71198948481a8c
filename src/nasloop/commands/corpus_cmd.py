"""`nasloop corpus channels`: a corpus of channel-configuration variants of one model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

corpus_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Build corpora of model variants."
)

EXIT_BAD_INPUT = 2


@corpus_app.callback()
def _corpus() -> None:
    """Build corpora of model variants (JSONL; see docs/corpus.md)."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"nasloop: {message}", err=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _parent(model: str) -> tuple[str, str]:
    """(source, file name) of a model file, or of a built-in seed given by name."""
    path = Path(model)
    if path.is_file():
        return path.read_text(encoding="utf-8"), path.name
    from nasloop.tasks.image_classification.seeds import list_seeds

    seeds = list_seeds()
    if model in seeds:
        return seeds[model], f"{model}.py"
    raise _fail(f"--model {model}: no such file, nor a built-in seed ({', '.join(seeds)})")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(part) for part in text.split(","))
    except ValueError:
        raise _fail(f"--in-shape {text!r}: expected C,H,W such as 1,32,32") from None
    return c, h, w


def _task_defaults(config: Path | None, task: str | None, dataset: str | None,
                   max_params: int | None) -> tuple[Any, int, str]:
    """(dataset table entry, parameter cap, dataset name) of the config's task."""
    from nasloop.config import ConfigError, load_config
    from nasloop.tasks.registry import build_task

    try:
        cfg = load_config(config, {"task.kind": task, "data.dataset": dataset,
                                   "train.max_params": max_params})
        the_task = build_task(cfg)
        info = getattr(the_task, "dataset", None)
        if info is None:
            raise ConfigError(f"bad config: field 'task.kind': the {cfg.task.kind} task has no "
                              "image dataset to build channel variants for")
    except ConfigError as err:
        raise _fail(str(err)) from None
    return info, cfg.train.max_params, cfg.data.dataset


@corpus_app.command("channels")
def corpus_channels(
    model: Annotated[
        str, typer.Option(help="Parent model file, or a seed name (lenet, vgg_small, ...).")
    ],
    count: Annotated[int, typer.Option(min=1, help="Variants the corpus must hold.")] = 100,
    out: Annotated[Path, typer.Option(help="Corpus file (JSONL); appended to.")] = Path(
        "corpus.jsonl"
    ),
    evaluate: Annotated[
        bool, typer.Option("--evaluate", help="Train each variant in the sandbox.")
    ] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    seed: Annotated[int, typer.Option(help="Sampler seed (same seed, same corpus).")] = 0,
    config: Annotated[Path | None, typer.Option(help="Search config (TOML): dataset, "
                                                     "parameter cap.")] = None,
    task: Annotated[str | None, typer.Option(help="Task kind (an image-classification "
                                                  "kind: its dataset gives the shape).")] = None,
    in_shape: Annotated[str | None, typer.Option(help="Input C,H,W of the model (default: "
                                                      "the dataset's).")] = None,
    classes: Annotated[int | None, typer.Option(min=1, help="Number of classes (default: "
                                                            "the dataset's).")] = None,
    max_params: Annotated[int | None, typer.Option(help="Reject variants above this.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset (default: the config's, "
                                                     "digits).")] = None,
) -> None:
    """Write COUNT unique, shape-valid channel-width variants of MODEL (resumable)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from nasloop.corpus.build import CorpusError, CorpusOptions, build_corpus

    code, name = _parent(model)
    info, cap, data = _task_defaults(config, task, dataset, max_params)
    opts = CorpusOptions(
        count=count,
        seed=seed,
        jobs=jobs,
        evaluate=evaluate,
        in_shape=_shape(in_shape) if in_shape else info.shape,
        num_classes=classes or info.classes,
        max_params=cap,
        dataset=data,
    )
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("[bold]corpus[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    task = progress.add_task(name, total=count)

    def start(existing: int) -> None:
        progress.update(task, completed=existing)
        progress.start()

    try:
        report = build_corpus(
            code, name, out, opts, on_record=lambda _: progress.advance(task), on_start=start
        )
    except CorpusError as err:
        raise _fail(str(err)) from None
    finally:
        progress.stop()
    held = report.existing + report.written
    console.print(
        f"{out}: {held} variants ({report.written} new, {report.existing} kept) "
        f"in {report.wall_s:.1f} s, {report.rate:.1f} variants/s with {jobs} job(s)"
    )
    for reason, n in report.rejected.most_common(5):
        console.print(f"  rejected {n}: {reason}")
    if held < count:
        console.print(f"[yellow]only {held} distinct variants exist under these settings[/]")


@corpus_app.command("moe")
def corpus_moe(
    families: Annotated[list[str], typer.Option(help="Family source (repeatable): model files, "
                                                     "a folder, seed names, seeds, run:DIR.")],
    count: Annotated[int, typer.Option(min=1, help="Ensembles the corpus must hold.")] = 10,
    k: Annotated[int, typer.Option(min=2, help="Experts per ensemble.")] = 4,
    sampler: Annotated[str, typer.Option(help="lexicographic, random or stratified.")] = (
        "stratified"),
    out: Annotated[Path, typer.Option(help="Corpus file (JSONL); resumed.")] = Path("moe.jsonl"),
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Train each ensemble in the "
                                                              "sandbox.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Sandbox workers.")] = 1,
    seed: Annotated[int, typer.Option(help="Sampler and training seed.")] = 0,
    dataset: Annotated[str, typer.Option(help="Dataset to train on.")] = "digits",
    max_params: Annotated[int, typer.Option(min=1, help="Parameter cap (all experts and "
                                                        "the gate).")] = 2_000_000,
    json_out: Annotated[bool, typer.Option("--json", help="Print the coverage as JSON.")] = False,
) -> None:
    """Sample COUNT ensembles of K families, assemble (and train) them; print coverage."""
    import json

    from nasloop.tasks.ensemble.corpus import MoeCorpusError, MoeCorpusOptions, build_moe_corpus
    from nasloop.tasks.ensemble.coverage import coverage, coverage_text
    from nasloop.tasks.ensemble.families import FamilyError, load_families
    from nasloop.tasks.ensemble.samplers import SamplerError

    if sampler not in ("lexicographic", "random", "stratified"):
        raise _fail(f"--sampler {sampler!r}: one of lexicographic, random, stratified")
    try:
        sources = load_families(families)
        opts = MoeCorpusOptions(k=k, sampler=sampler, count=count, seed=seed,  # type: ignore[arg-type]
                                evaluate=evaluate, jobs=jobs, dataset=dataset,
                                max_params=max_params)
        records = build_moe_corpus(sources, out, opts, on_record=lambda r: typer.echo(
            f"#{r.index} {'+'.join(r.families)} "
            f"{r.accuracy if r.accuracy is not None else (r.failure or '')}", err=True))
    except (FamilyError, SamplerError, MoeCorpusError, OSError) as err:
        raise _fail(str(err)) from None
    cov = coverage([(tuple(r.families), r.accuracy) for r in records], sources)
    typer.echo(json.dumps(cov, indent=1) if json_out else coverage_text(cov))


@corpus_app.command("transforms")
def corpus_transforms(
    count: Annotated[int, typer.Option(min=1, help="Transforms the corpus must hold.")] = 100,
    ops: Annotated[str, typer.Option(help="Ops per composition: N or LOW-HIGH.")] = "1-3",
    out: Annotated[Path, typer.Option(help="Corpus file (JSONL); appended to.")] = Path(
        "transforms.jsonl"),
    evaluate: Annotated[bool, typer.Option("--evaluate", help="Train the reference network "
                                                              "with each in the sandbox.")] = False,
    jobs: Annotated[int, typer.Option(min=1, help="Sandbox workers (with --evaluate).")] = 1,
    seed: Annotated[int, typer.Option(help="Sampler seed (same seed, same corpus).")] = 0,
    network: Annotated[str, typer.Option(help="Reference network: a seed name or a model "
                                              "file.")] = "lenet",
    dataset: Annotated[str, typer.Option(help="Dataset.")] = "digits",
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs per transform.")] = 1,
    train_seed: Annotated[int, typer.Option(min=0, help="Training seed of every evaluation "
                                                         "(apart from the sampler seed).")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Write COUNT unique random compositions of catalogue augmentation ops (resumable)."""
    import json

    from nasloop.tasks.augmentation import network_source
    from nasloop.tasks.augmentation.corpus import (
        TransformCorpusOptions,
        build_transform_corpus,
        parse_ops,
    )

    try:
        span = parse_ops(ops)
        network_source(network)
        from nasloop.data.table import dataset_info

        dataset_info(dataset)
    except Exception as err:  # noqa: BLE001 - bad input: one line
        raise _fail(str(err).splitlines()[0]) from None
    opts = TransformCorpusOptions(count=count, ops=span, seed=seed, evaluate=evaluate,
                                  jobs=jobs, dataset=dataset, network=network, epochs=epochs,
                                  train_seed=train_seed)
    report = build_transform_corpus(out, opts)
    held = report.existing + report.written
    summary = {"out": str(out), "held": held, "written": report.written,
               "kept": report.existing, "duplicates": report.duplicates,
               "failed": report.failed, "wall_s": round(report.wall_s, 2)}
    if json_out:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(f"{out}: {held} transforms ({report.written} new, {report.existing} kept, "
                   f"{report.duplicates} duplicates skipped, {report.failed} failed) in "
                   f"{report.wall_s:.1f} s")
    if held < count:
        typer.echo(f"only {held} distinct transforms within the attempt limit", err=True)


@corpus_app.command("import-transforms")
def corpus_import_transforms(
    code_dir: Annotated[Path, typer.Argument(help="Folder of NAME.py transform files.")],
    results: Annotated[Path, typer.Option(help="Folder of NAME.json result files.")],
    out: Annotated[Path, typer.Option(help="Corpus file (JSONL) to write.")] = Path(
        "corpus.jsonl"),
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Import an external evaluated transform corpus; every file not imported is counted
    under its reason."""
    import json

    from nasloop.corpus.records import append_record
    from nasloop.tasks.augmentation.importer import import_transforms

    for folder in (code_dir, results):
        if not folder.is_dir():
            raise _fail(f"{folder}: not a folder")
    records, report = import_transforms(code_dir, results)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle:
        for rec in records:
            append_record(handle, rec)
    if json_out:
        typer.echo(json.dumps({"out": str(out), "imported": report.imported,
                               "skipped": dict(report.skipped)}))
        return
    typer.echo(f"{out}: {report.imported} transforms imported")
    for reason, n in report.skipped.most_common():
        typer.echo(f"  not imported {n}: {reason} (e.g. {report.examples[reason]})")


@corpus_app.command("transform-pairs")
def corpus_transform_pairs(
    corpus: Annotated[Path | None, typer.Argument(help="Evaluated or imported transform "
                                                       "corpus.")] = None,
    run: Annotated[list[Path] | None, typer.Option(help="An augmentation run's directory "
                                                        "(repeatable): its trained "
                                                        "transforms.")] = None,
    out: Annotated[Path, typer.Option(help="Pairs file (JSONL) to write.")] = Path(
        "pairs.jsonl"),
    margin: Annotated[float, typer.Option(min=0.0, help="Answer beats prompt by more.")] = 0.0,
    preference: Annotated[bool, typer.Option("--preference", help="(better, worse) "
                                                                  "preference pairs.")] = False,
    seed: Annotated[int, typer.Option(help="Draw seed.")] = 0,
) -> None:
    """Better-than pairs (prompt transform + accuracy -> a strictly better transform), or
    preference pairs, as JSONL, from a corpus file and/or runs."""
    import json

    from nasloop.memory.archive import Archive
    from nasloop.rundir import RunDir
    from nasloop.tasks.augmentation.pairs import archive_records, better_than, preference_pairs
    from nasloop.tasks.augmentation.records import read_transforms

    if corpus is None and not run:
        raise _fail("give a transform corpus, --run DIR, or both")
    if corpus is not None and not corpus.is_file():
        raise _fail(f"{corpus}: not found")
    records = read_transforms(corpus) if corpus is not None else []
    for folder in run or []:
        db = RunDir(folder).archive
        if not db.is_file():
            raise _fail(f"--run {folder}: no {db.name} there")
        archive = Archive(db)
        try:
            records += archive_records(archive)
        finally:
            archive.close()
    rows = preference_pairs(records, margin, seed) if preference else [
        {"prompt_code": low.code, "prompt_accuracy": low.accuracy, "answer_code": high.code,
         "answer_accuracy": high.accuracy} for low, high in better_than(records, margin, 1, seed)]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    typer.echo(f"{out}: {len(rows)} pairs from {len(records)} transforms")
