"""Reading and writing an NN-Dataset tree.

A tree holds `nn/<name>.py` (one model per file) and `stat/<task>_<dataset>_<metric>_<name>/
<epoch>.json`, each a JSON list of trials (`accuracy`, `lr`, `momentum`, `batch`,
`dropout`, `transform`, `duration` in ns, `uid`, and any other hyperparameter). The
NN-Dataset repository keeps both folders under `ab/nn/`; either root works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

RECORDS = "records.jsonl"


class LemurRecord(BaseModel):
    """One model's trials on one (task, dataset, metric) at one epoch count."""

    model_config = ConfigDict(frozen=True)

    name: str  # the model's file name without .py
    code: str
    task: str  # e.g. img-classification
    dataset: str  # e.g. cifar-10, celeba-gender
    metric: str  # e.g. acc
    epoch: int
    trials: list[dict[str, Any]]

    @property
    def best(self) -> float | None:
        accs = [t["accuracy"] for t in self.trials if isinstance(t.get("accuracy"), (int, float))]
        return max(accs) if accs else None


@dataclass
class ImportReport:
    records: list[LemurRecord] = field(default_factory=list)
    models: int = 0  # nn/*.py files read
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why


def _root(src: Path) -> Path:
    for cand in (src, src / "ab" / "nn"):
        if (cand / "nn").is_dir():
            return cand
    raise FileNotFoundError(f"{src} holds no NN-Dataset tree (no nn/ folder, nor ab/nn/nn/)")


def read_tree(src: Path) -> ImportReport:
    """Every (model, stat, epoch) record of the tree at `src`, in a stable order; stat files
    that name no model, do not parse or hold no trial list are reported, not dropped."""
    root = _root(src)
    report = ImportReport()
    codes: dict[str, str] = {}
    for path in sorted((root / "nn").glob("*.py")):
        try:
            codes[path.stem] = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            report.skipped[str(path)] = f"unreadable: {exc}"
    report.models = len(codes)
    stat = root / "stat"
    for folder in sorted(p for p in stat.iterdir() if p.is_dir()) if stat.is_dir() else []:
        parts = folder.name.split("_", 3)
        if len(parts) != 4:
            report.skipped[str(folder)] = "not <task>_<dataset>_<metric>_<name>"
            continue
        task, dataset, metric, name = parts
        if name not in codes:
            report.skipped[str(folder)] = f"no nn/{name}.py"
            continue
        for path in sorted(folder.glob("*.json"), key=lambda p: (len(p.stem), p.stem)):
            try:
                epoch = int(path.stem)
                trials = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(trials, list) or not all(isinstance(t, dict) for t in trials):
                    raise ValueError("not a list of trials")
            except (OSError, ValueError) as exc:
                report.skipped[str(path)] = str(exc)[:200]
                continue
            report.records.append(LemurRecord(name=name, code=codes[name], task=task,
                                              dataset=dataset, metric=metric, epoch=epoch,
                                              trials=trials))
    return report


def write_tree(records: list[LemurRecord], out: Path) -> None:
    """Write `records` in the NN-Dataset layout under `out` (nn/ and stat/)."""
    (out / "nn").mkdir(parents=True, exist_ok=True)
    for r in records:
        (out / "nn" / f"{r.name}.py").write_text(r.code, encoding="utf-8")
        folder = out / "stat" / f"{r.task}_{r.dataset}_{r.metric}_{r.name}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{r.epoch}.json").write_text(json.dumps(r.trials, indent=4) + "\n",
                                                encoding="utf-8")


def write_records(records: list[LemurRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.model_dump_json() + "\n")


def read_records(path: Path) -> list[LemurRecord]:
    return [LemurRecord.model_validate_json(line)
            for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
