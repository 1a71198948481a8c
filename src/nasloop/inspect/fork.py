"""`fork_run`: a new run directory that starts from an earlier loop step of another run.

The fork keeps every archive row of steps before `step` and the LangGraph checkpoint
history up to the state reached when step-1 was recorded, under a new thread id (its own
run id). `runner.drive(config, dst)` then continues it from the improver of `step`.
The source run is only read, from private copies of its files.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from langgraph.checkpoint.base import CheckpointTuple
from langgraph.checkpoint.sqlite import SqliteSaver

from nasloop.inspect.checkpoints import fork_point, read_history, sqlite_copy
from nasloop.inspect.rundir import ARCHIVE, CHECKPOINTS, InspectError
from nasloop.rundir import RunDir

CONFIG = RunDir.CONFIG
ADAPTERS = RunDir.ADAPTERS


def fork_run(src: Path, step: int, dst: Path) -> None:
    """Write a new run into `dst` that continues `src` from loop step `step`."""
    if not (src / ARCHIVE).is_file() or not (src / CHECKPOINTS).is_file():
        raise InspectError(f"{src} holds no run with checkpoints")
    if step < 0:
        raise InspectError(f"--from-step must be >= 0, not {step}")
    if dst.exists() and any(dst.iterdir()):
        raise InspectError(f"{dst} is not empty: pick a new directory for the fork")
    if dst.resolve() == src.resolve():
        raise InspectError("a fork needs its own directory")
    with sqlite_copy(src / ARCHIVE) as arch_copy:
        src_meta = _read_meta(arch_copy)
        old_id = src_meta["run_id"]
        with sqlite_copy(src / CHECKPOINTS) as ckpt_copy:
            conn = sqlite3.connect(ckpt_copy, check_same_thread=False)
            try:
                history = read_history(SqliteSaver(conn), old_id)
                chain = history[: fork_point(history, step) + 1]
            finally:
                conn.close()
        dst.mkdir(parents=True, exist_ok=True)
        new_id = f"{dst.resolve().name}-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copyfile(src / CONFIG, dst / CONFIG)
            _cut_archive(arch_copy, dst / ARCHIVE, step, new_id, src, old_id)
            _write_checkpoints(chain, dst / CHECKPOINTS, new_id)
        except BaseException:
            shutil.rmtree(dst, ignore_errors=True)
            raise
    _write_outputs(dst)


def _read_meta(db_path: Path) -> dict[str, Any]:
    db = sqlite3.connect(db_path)
    try:
        return {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
    finally:
        db.close()


def _cut_archive(
    copy: Path, out: Path, step: int, new_id: str, src: Path, old_id: str
) -> None:
    """The archive of steps < `step`, re-labelled as the new run (written via VACUUM INTO)."""
    db = sqlite3.connect(copy, isolation_level=None)
    try:
        db.execute("BEGIN")
        (cut_at,) = db.execute("SELECT MIN(created_at) FROM candidates WHERE step >= ?",
                               (step,)).fetchone()
        for table in ("candidates", "agent_calls", "triples"):
            db.execute(f"DELETE FROM {table} WHERE step >= ?", (step,))
        _cut_cycles(db, step, src, out.parent)
        _cut_promotions(db, cut_at)
        first, last = db.execute(
            "SELECT MIN(created_at), MAX(COALESCE(finished_at, created_at)) FROM candidates"
        ).fetchone()
        wall = (last - first) if first is not None else 0.0
        meta = {
            "run_id": new_id,
            "wall_s": wall,  # estimated from the kept candidates' timestamps
            "forked_from": {"path": str(src.resolve()), "run_id": old_id, "step": step,
                            "at": time.time()},
        }
        for key, value in meta.items():
            db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )
        db.execute("COMMIT")
        db.execute("VACUUM INTO ?", (str(out),))
    finally:
        db.close()
    fresh = sqlite3.connect(out)
    try:
        fresh.execute("PRAGMA journal_mode=WAL")
    finally:
        fresh.close()


def _cut_promotions(db: sqlite3.Connection, cut_at: float | None) -> None:
    """Promoted results ([search.promote]) of the kept candidates made before the fork step's
    candidate was (a later round is the original run's, not the fork's)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'promotions'").fetchone() is None:
        return
    db.execute("DELETE FROM promotions WHERE candidate_id NOT IN (SELECT id FROM candidates)"
               " OR created_at >= ?", (cut_at if cut_at is not None else float("inf"),))


def _cut_cycles(db: sqlite3.Connection, step: int, src: Path, dst: Path) -> None:
    """Fine-tuning cycles: keep those that ended before `step`, with their adapters (named
    relative to the run) copied into the fork; the cycle cut short is closed again later."""
    from nasloop.finetune.store import has_cycle_table

    if not has_cycle_table(db):
        return
    db.execute("DELETE FROM finetune_cycles WHERE end_step > ?", (step,))
    db.execute("DELETE FROM reevals WHERE candidate_id NOT IN (SELECT id FROM candidates)")
    rows = db.execute("SELECT next_adapter FROM finetune_cycles").fetchall()
    for (name,) in rows:
        if name and name.startswith(ADAPTERS + "/") and (src / name).is_dir():
            shutil.copytree(src / name, dst / name)
            keys = name + ".keys.json"
            if (src / keys).is_file():
                shutil.copyfile(src / keys, dst / keys)


def _write_checkpoints(chain: list[CheckpointTuple], out: Path, thread_id: str) -> None:
    """The checkpoint chain under `thread_id`. The last one gets no pending writes, so the
    task that follows it (the improver of the fork step) runs again in the fork."""
    conn = sqlite3.connect(out, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    saver = SqliteSaver(conn)
    try:
        parent: str | None = None
        for i, tup in enumerate(chain):
            ckpt = dict(tup.checkpoint)
            values = dict(ckpt.get("channel_values", {}))
            if "run_id" in values:
                values["run_id"] = thread_id
            ckpt["channel_values"] = values
            cfg: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
            if parent is not None:
                cfg["checkpoint_id"] = parent
            saved = saver.put(
                {"configurable": cfg}, ckpt, tup.metadata, ckpt.get("channel_versions", {})
            )
            if i < len(chain) - 1:
                by_task: dict[str, list[tuple[str, Any]]] = defaultdict(list)
                for task_id, channel, value in tup.pending_writes or []:
                    by_task[task_id].append((channel, value))
                for task_id, writes in by_task.items():
                    saver.put_writes(saved, writes, task_id)
            parent = ckpt["id"]
    finally:
        conn.close()


def _write_outputs(dst: Path) -> None:
    """summary.json and best.py of the fork as it stands (status `forked`)."""
    from nasloop.memory.archive import Archive
    from nasloop.summary import summarize, write_best, write_summary

    archive = Archive(dst / ARCHIVE)
    try:
        wall = float(archive.get_meta("wall_s", 0.0))
        write_summary(dst, summarize(archive, status="forked", wall_s=wall, stop_reason=None))
        write_best(dst, archive)
    finally:
        archive.close()
