"""Transform corpus records: one JSONL line per transform, the channel corpus's conventions
(append and flush per record, a torn last line dropped on read and cut before appending)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


class TransformRecord(BaseModel):
    """One transform of a corpus (built from the catalogue or imported)."""

    id: str  # structural hash of `code`
    code: str
    origin: str  # "catalogue:seed=0" or "import:<file>"
    attempt: int = -1  # the sampler's attempt (catalogue records)
    steps: list[dict[str, Any]] = Field(default_factory=list)  # [{"op": .., "args": {..}}]
    description: str = ""
    dataset: str | None = None
    network: str | None = None
    accuracy: float | None = None  # measured (--evaluate) or recorded (import)
    metrics: dict[str, float] | None = None
    failure: str | None = None
    recorded: dict[str, Any] | None = None  # an imported result file's fields, as found


def read_transforms(path: Path) -> list[TransformRecord]:
    """Every complete record of a transform corpus (a torn or foreign line is skipped)."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                found.append(TransformRecord.model_validate_json(line))
            except ValueError:
                continue
    return found
