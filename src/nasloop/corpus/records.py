"""Corpus records: the JSONL line format, reading for resume, and prompt/answer pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from nasloop.agents.mutation import Mutation


class CorpusRecord(BaseModel):
    """One variant (one JSONL line). See docs/corpus.md for the meaning of each field."""

    id: str  # the structural hash of `code` (normalised AST, docstrings dropped)
    parent: str  # file name of the parent model
    parent_hash: str
    attempt: int  # the sampler's attempt number that produced it (deterministic per seed)
    code: str
    diff: str  # unified diff parent -> code, `--- a/model.py` / `+++ b/model.py`
    mutations: list[Mutation]  # applied in order to the parent, they give `code`
    description: str  # the mutations, described, joined by "; "
    channels: dict[str, int]  # full configuration: group's first layer -> output width
    params: int
    flops: float  # forward FLOPs per sample (sandbox dry check)
    form: Literal["lemur", "bare"]
    in_shape: list[int]
    num_classes: int
    metrics: dict[str, float] | None = None  # with --evaluate: the sandbox's metrics
    failure: str | None = None  # with --evaluate: failure class and message, if it failed
    parent_code: str = Field(default="", repr=False)


def read_records(path: Path) -> list[CorpusRecord]:
    """Every complete record of a corpus file; a torn last line (a kill mid-write) is dropped."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            records.append(CorpusRecord.model_validate_json(line))
        except ValueError:
            continue
    return records


def repair_tail(path: Path) -> None:
    """Cut a torn last line so that appends start on a fresh line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def append_record(handle: Any, record: CorpusRecord) -> None:
    """Write one record as one line and flush it (a kill loses at most that line)."""
    handle.write(record.model_dump_json() + "\n")
    handle.flush()


PROMPT_CODE = (
    "Apply this change to the PyTorch model below: {description}.\n"
    "Keep every other line as it is. Answer with the complete modified file.\n\n"
    "```python\n{parent}```\n"
)
PROMPT_DIFF = (
    "Apply this change to the PyTorch model below: {description}.\n"
    "Answer with a unified diff against model.py (--- a/model.py, +++ b/model.py).\n\n"
    "```python\n{parent}```\n"
)


def prompt_pair(
    record: CorpusRecord | dict[str, Any], mode: Literal["code", "diff"] = "diff"
) -> dict[str, str]:
    """Turn a record into a fine-tuning pair ``{"prompt": ..., "answer": ...}``.

    ``mode="code"`` answers with the whole modified file, ``"diff"`` with the unified diff.
    """
    rec = record if isinstance(record, CorpusRecord) else CorpusRecord.model_validate(record)
    template = PROMPT_CODE if mode == "code" else PROMPT_DIFF
    prompt = template.format(description=rec.description, parent=rec.parent_code)
    answer = f"```python\n{rec.code}```\n" if mode == "code" else f"```diff\n{rec.diff}```\n"
    return {"prompt": prompt, "answer": answer}
