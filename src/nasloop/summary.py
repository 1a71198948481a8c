"""summary.json and best.py: what a run has produced so far, derived from the archive."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from nasloop.memory.archive import Archive
from nasloop.rundir import RunDir
from nasloop.tasks.base import Objective


def run_objective(archive: Archive) -> Objective:
    """The objective a run was made with (runs before the task seam: val_accuracy, max)."""
    return Objective.model_validate(archive.get_meta("objective") or {})


def summarize(
    archive: Archive, *, status: str, wall_s: float, stop_reason: str | None
) -> dict[str, Any]:
    """Counters and best result of a run (the archive is the single source of truth)."""
    cands = archive.candidates()
    evaluated = [c for c in cands if c.eval_wall_s is not None]
    valid = [c for c in cands if c.status == "ok"]
    failed = Counter(c.failure_class or "unknown" for c in cands if c.status == "failed")
    seeds = [c for c in valid if c.origin.startswith("seed:") and c.score is not None]
    best = archive.best()
    objective = run_objective(archive)
    generated = [c for c in cands if not c.origin.startswith("seed:")]
    gen_valid = [c for c in generated if c.status == "ok"]
    return {
        "run_id": archive.get_meta("run_id"),
        "status": status,
        "stop_reason": stop_reason,
        "candidates_generated": len(cands),
        "candidates_evaluated": len(evaluated),
        "valid": len(valid),
        "failed_by_class": dict(sorted(failed.items())),
        "duplicates_skipped": sum(1 for c in cands if c.status == "duplicate"),
        "valid_generation_rate": round(len(gen_valid) / len(generated), 4) if generated else None,
        "metric": objective.metric,
        "best_metric": best.score if best else None,
        "best_candidate": best.id if best else None,
        "best_seed_metric": min(
            (c.score for c in seeds), key=objective.sort_key, default=None  # type: ignore[arg-type]
        ),
        "wall_s": round(wall_s, 3),
        "train_s": round(sum(c.train_s or 0.0 for c in valid), 3),
        "eval_s": round(sum(c.eval_wall_s or 0.0 for c in evaluated), 3),
        **(archive.get_meta("task_summary") or {}),  # the task's own figures (after_run)
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    _atomic_write(RunDir(run_dir).summary, json.dumps(summary, indent=2) + "\n")


def write_best(run_dir: Path, archive: Archive) -> None:
    """best.py: the code of the best candidate so far, with a header saying what it is."""
    best = archive.best()
    if best is None or best.code is None:
        return
    objective = run_objective(archive)
    header = (
        f"# nasloop best candidate #{best.id} (step {best.step}, {best.origin}): "
        f"{objective.metric}={objective.format(best.score)}, params={best.params}\n"
    )
    _atomic_write(RunDir(run_dir).best, header + best.code)
