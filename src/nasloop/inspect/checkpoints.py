"""A run's LangGraph checkpoint history, and forks of a run from an earlier loop step.

Both read the source run from a private copy of its SQLite files, so the source run
directory stays byte-for-byte as it was (no WAL checkpoint, no -shm file created).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import StateSnapshot

from nasloop.graph.build import build_graph
from nasloop.inspect.rundir import CHECKPOINTS, InspectError, RunView


@contextmanager
def sqlite_copy(path: Path) -> Iterator[Path]:
    """A throwaway copy of a SQLite database with its WAL (the original is never opened)."""
    if not path.is_file():
        raise InspectError(f"{path} does not exist")
    with tempfile.TemporaryDirectory(prefix="nasloop-inspect-") as tmp:
        dst = Path(tmp) / path.name
        shutil.copyfile(path, dst)
        wal = path.with_name(path.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, dst.with_name(dst.name + "-wal"))
        yield dst


def read_history(saver: SqliteSaver, thread_id: str) -> list[CheckpointTuple]:
    """Every checkpoint of the thread, oldest first."""
    cfg = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    return list(saver.list(cfg))[::-1]


def _row(snap: StateSnapshot) -> dict[str, Any]:
    values = snap.values or {}
    parent = (snap.parent_config or {}).get("configurable", {})
    return {
        "checkpoint_id": snap.config["configurable"]["checkpoint_id"],
        "parent_checkpoint_id": parent.get("checkpoint_id"),
        "super_step": snap.metadata.get("step") if snap.metadata else None,
        "source": snap.metadata.get("source") if snap.metadata else None,
        "loop_step": values.get("step"),
        "candidates": list(values.get("candidates") or []),  # ids of the cycle so far
        "verdict": values.get("verdict") or None,
        "next": list(snap.next),
        "created_at": datetime.fromisoformat(snap.created_at).timestamp()
        if snap.created_at
        else None,
    }


def fork_point(history: list[CheckpointTuple], step: int) -> int:
    """Index of the checkpoint a fork from loop `step` starts at: the first one whose state
    has reached `step` (for step > 0, right after the cycle before it was recorded, before
    the improver chose the instructions of the cycle that starts at `step`)."""
    starts: list[int] = []
    for i, tup in enumerate(history):
        at = tup.checkpoint.get("channel_values", {}).get("step")
        if at == step:
            return i
        if isinstance(at, int) and at not in starts:
            starts.append(at)
    raise InspectError(
        f"no checkpoint at loop step {step}: a fork starts where a cycle starts "
        f"({', '.join(map(str, starts)) or 'none recorded'})"
    )


def list_checkpoints(run_dir: Path, every: bool = False) -> list[dict[str, Any]]:
    """The run's checkpoints, oldest first; by default one per loop step (the fork points)."""
    with RunView(run_dir) as view:
        thread_id = view.meta("run_id")
    with sqlite_copy(run_dir / CHECKPOINTS) as copy:
        conn = sqlite3.connect(copy, check_same_thread=False)
        try:
            graph = build_graph().compile(checkpointer=SqliteSaver(conn))
            cfg = {"configurable": {"thread_id": thread_id}}
            rows = [_row(s) for s in graph.get_state_history(cfg)][::-1]
        finally:
            conn.close()
    if every:
        return rows
    firsts: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row["loop_step"] is not None:
            firsts.setdefault(row["loop_step"], row)
    return list(firsts.values())
