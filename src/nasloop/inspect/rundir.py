"""Read-only access to a run directory (archive.sqlite, summary.json, config.json)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasloop.memory.archive import Candidate
from nasloop.rundir import RunDir
from nasloop.tasks.base import Objective

if TYPE_CHECKING:
    from nasloop.final import FinalReport
    from nasloop.memory.promotions import Promotion

ARCHIVE = RunDir.ARCHIVE
CHECKPOINTS = RunDir.CHECKPOINTS


class InspectError(Exception):
    """A run that cannot be read (missing, not a run): one line for the user."""


def connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection that leaves the run's files as they are.

    With no -wal file no writer is attached, so the file is opened `immutable` (SQLite then
    creates no -wal/-shm beside it); a live or crashed run is read through its WAL, read-only.
    Reopen to see later writes.
    """
    if not path.is_file():
        raise InspectError(f"{path} does not exist")
    live = path.with_name(path.name + "-wal").exists()
    mode = "mode=ro" if live else "mode=ro&immutable=1"
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
    db.row_factory = sqlite3.Row
    return db


class RunView:
    """One run directory, opened read-only."""

    def __init__(self, run_dir: Path) -> None:
        self.dir = Path(run_dir)
        self.files = RunDir(self.dir)
        if not self.files.archive.is_file():
            raise InspectError(f"{self.dir} holds no run (no {ARCHIVE})")
        self.db = connect_ro(self.files.archive)
        self.cols = _columns(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    def summary(self) -> dict[str, Any]:
        """summary.json as the run last wrote it ({} when absent or half-written)."""
        try:
            return json.loads(self.files.summary.read_text())
        except (OSError, ValueError):
            return {}

    def config(self) -> dict[str, Any]:
        return self.meta("config", {}) or {}

    def objective(self) -> Objective:
        """The run's objective (runs made before the task seam: val_accuracy, max)."""
        return Objective.model_validate(self.meta("objective") or {})

    def candidates(self) -> list[Candidate]:
        rows = self.db.execute(f"SELECT {self.cols} FROM candidates ORDER BY step")
        return [_candidate(r) for r in rows]

    def candidate(self, cid: int) -> Candidate:
        row = self.db.execute(f"SELECT {self.cols} FROM candidates WHERE id = ?",
                              (cid,)).fetchone()
        if row is None:
            raise InspectError(f"run {self.dir} has no candidate #{cid}")
        return _candidate(row)

    def log_tail(self, cid: int) -> str | None:
        row = self.db.execute("SELECT log_tail FROM candidates WHERE id = ?", (cid,)).fetchone()
        return row["log_tail"] if row else None

    def times(self) -> dict[int, tuple[float, float | None]]:
        """created_at and finished_at of each candidate, by id."""
        rows = self.db.execute("SELECT id, created_at, finished_at FROM candidates")
        return {r["id"]: (r["created_at"], r["finished_at"]) for r in rows}

    def agent_calls(self, step: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM agent_calls", ()
        if step is not None:
            sql, args = sql + " WHERE step = ?", (step,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def triples(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute("SELECT * FROM triples ORDER BY step")]

    def promotions(self, cid: int | None = None) -> list[Promotion]:
        """Results of [search.promote] (of one candidate when given), kept beside the proxy
        score: one per (candidate, epochs, training seed)."""
        from nasloop.memory.promotions import read

        return read(self.db, cid)

    def final(self) -> FinalReport | None:
        """The report `nasloop final` wrote (None when there is none); InspectError when the
        file is not one."""
        from nasloop.final import read_report

        try:
            text = self.files.final.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return read_report(text)
        except ValueError as err:
            first = str(err).splitlines()[0]
            raise InspectError(f"{self.files.final} is not a final report ({first})") from None

    def cycles(self) -> list[dict[str, Any]]:
        """The fine-tuning cycles ([] for a run without them)."""
        from nasloop.finetune.view import read_cycles

        return read_cycles(self.db)


def _columns(db: sqlite3.Connection) -> str:
    """The candidate columns to select; an archive older than the `score` column (opened
    read-only, so not migrated) reads its val_accuracy as the score."""
    have = {r[1] for r in db.execute("PRAGMA table_info(candidates)")}
    cols = []
    for name in Candidate.model_fields:
        if name == "score" and "score" not in have:
            cols.append("val_accuracy AS score" if "val_accuracy" in have else "NULL AS score")
        else:
            cols.append(name)
    return ", ".join(cols)


def _candidate(row: sqlite3.Row) -> Candidate:
    data = dict(row)
    data["metrics"] = json.loads(data["metrics"]) if data["metrics"] else None
    return Candidate(**data)


def find_runs(root: Path, depth: int = 3) -> list[Path]:
    """Run directories at or under `root` (a folder with archive.sqlite), sorted by path."""
    if (root / ARCHIVE).is_file():
        return [root]
    found: list[Path] = []
    if depth <= 0 or not root.is_dir():
        return found
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        found.extend(find_runs(child, depth - 1))
    return found
