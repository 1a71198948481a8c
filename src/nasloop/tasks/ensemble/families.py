"""Expert families: the model files an ensemble is assembled from, found by name."""

from __future__ import annotations

from pathlib import Path


class FamilyError(ValueError):
    """A family source cannot be read (one-line reason)."""


def _folder(path: Path) -> dict[str, str]:
    # an NN-Dataset tree keeps its models under nn/ (or ab/nn/nn/)
    root = next((c for c in (path / "nn", path / "ab" / "nn" / "nn") if c.is_dir()), path)
    files = sorted(p for p in root.glob("*.py") if not p.name.startswith("_"))
    if not files:
        raise FamilyError(f"{path}: no model files (*.py) in it")
    return {p.stem: p.read_text(encoding="utf-8-sig") for p in files}


def _run_elites(run: Path, count: int) -> dict[str, str]:
    """The run's `count` best trained candidates under its own objective, read-only (the run
    may be live; its files are read through `RunView`, their one owner)."""
    from nasloop.inspect.rundir import InspectError, RunView

    try:
        with RunView(run) as view:
            objective = view.objective()
            trained = [c for c in view.candidates()
                       if c.status == "ok" and c.score is not None and c.code]
    except InspectError as err:
        raise FamilyError(f"run:{run}: {err}") from None
    top = sorted(trained, key=lambda c: (objective.sort_key(c.score), c.id))[:count]
    found = {f"{run.name}_{c.id}": c.code for c in top if c.code}
    if not found:
        raise FamilyError(f"run:{run}: no trained candidate to take")
    return found


def load_families(sources: list[str], elites: int = 8) -> dict[str, str]:
    """{family name: source} of every source, sorted by name: a model file (its name without
    .py), a folder of them (or an NN-Dataset tree), a built-in seed name, `seeds` (every
    built-in seed) or `run:DIR` (the run's best `elites` candidates, named `<run>_<id>`)."""
    from nasloop.tasks.image_classification.seeds import list_seeds

    seeds = list_seeds()
    found: dict[str, str] = {}
    for source in sources:
        if source == "seeds":
            got = dict(seeds)
        elif source.startswith("run:"):
            got = _run_elites(Path(source[4:]).expanduser(), elites)
        elif Path(source).expanduser().is_dir():
            got = _folder(Path(source).expanduser())
        elif Path(source).expanduser().is_file():
            path = Path(source).expanduser()
            got = {path.stem: path.read_text(encoding="utf-8-sig")}
        elif source in seeds:
            got = {source: seeds[source]}
        else:
            raise FamilyError(f"family source {source!r}: no such file or folder, nor a "
                              f"built-in seed ({', '.join(seeds)})")
        for name in got:
            if name in found and found[name] != got[name]:
                raise FamilyError(f"two different families are called {name!r}")
        found.update(got)
    return dict(sorted(found.items()))
