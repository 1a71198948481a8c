"""A run's valid candidates as NN-Dataset records (`nasloop lemur export`)."""

from __future__ import annotations

from pathlib import Path

from nasloop.inspect.rundir import RunView
from nasloop.lemur.tree import LemurRecord

TASK_NAMES = {"image-classification": "img-classification", "recipes": "img-classification"}


def lemur_name(dataset: str) -> str:
    """A dataset name as one component of a stat folder name: no `_` (the separator), no
    path (an image folder is named by its last folder)."""
    if ":" in dataset or "/" in dataset:
        dataset = Path(dataset.split(":", 1)[-1]).name or "folder"
    return dataset.replace("_", "-")


def run_records(run_dir: Path) -> list[LemurRecord]:
    """One record per valid candidate of the run: its code and one trial with the run's
    hyperparameters, the candidate's score and training time."""
    with RunView(run_dir) as view:
        config = view.config()
        objective = view.objective()
        cands = [c for c in view.candidates() if c.status == "ok" and c.code]
    train = config.get("train", {})
    kind = config.get("task", {}).get("kind", "image-classification")
    dataset = lemur_name(config.get("data", {}).get("dataset", "digits"))
    metric = "acc" if objective.metric == "val_accuracy" else objective.metric
    prm = train.get("prm", {})
    records = []
    for c in cands:
        trial = {"accuracy": c.score, "batch": train.get("batch_size", 32),
                 "dropout": prm.get("dropout", 0.2), "duration": int((c.train_s or 0) * 1e9),
                 "lr": train.get("lr", 0.01), "momentum": train.get("momentum", 0.9),
                 "transform": "norm", "uid": c.structural_hash or str(c.id)}
        records.append(LemurRecord(
            name=f"nasloop-{c.id}-{(c.structural_hash or '')[:8]}", code=c.code or "",
            task=TASK_NAMES.get(kind, kind), dataset=dataset, metric=metric,
            epoch=int(train.get("epochs", 1)), trials=[trial]))
    return records
