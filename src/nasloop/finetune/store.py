"""The fine-tuning cycles' record, in the run's archive file (the orchestrator alone writes).

Two tables beside the search's own: one row per cycle (what it generated with, its
statistics, the elites it kept, the adapter trained on them) and one row per proxy
re-evaluation (a candidate trained again with another seed). Both are keyed so that a
cycle re-run after a crash finds what it already did.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from nasloop.memory.archive import Archive

SCHEMA = """
CREATE TABLE IF NOT EXISTS finetune_cycles (
  cycle INTEGER PRIMARY KEY,
  start_step INTEGER NOT NULL,
  end_step INTEGER NOT NULL,       -- exclusive
  adapter TEXT NOT NULL,           -- what generated it: '' (the base) or an adapter folder
  stats TEXT,                      -- JSON: CycleStats
  elites TEXT,                     -- JSON: ids of the elites kept after it
  train TEXT,                      -- JSON: the report of the adapter trained on them
  next_adapter TEXT,               -- folder of that adapter (generates the next cycle)
  created_at REAL NOT NULL,
  finished_at REAL
);
CREATE TABLE IF NOT EXISTS reevals (
  candidate_id INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  cycle INTEGER NOT NULL,
  status TEXT NOT NULL,            -- ok | failed
  score REAL,
  message TEXT,
  created_at REAL NOT NULL,
  PRIMARY KEY (candidate_id, seed)
);
"""


class CycleStore:
    """Reads and writes the cycle tables of one archive."""

    def __init__(self, archive: Archive) -> None:
        self.db = archive.db
        self.db.executescript(SCHEMA)
        cols = {r[1] for r in self.db.execute("PRAGMA table_info(reevals)")}
        if "score" not in cols and "val_accuracy" in cols:  # before the task seam
            self.db.execute("ALTER TABLE reevals RENAME COLUMN val_accuracy TO score")

    def start(self, cycle: int, start_step: int, end_step: int, adapter: str) -> None:
        """Open the row of a cycle (kept as first written when the cycle runs again)."""
        self.db.execute(
            "INSERT OR IGNORE INTO finetune_cycles(cycle, start_step, end_step, adapter,"
            " created_at) VALUES (?, ?, ?, ?, ?)",
            (cycle, start_step, end_step, adapter, time.time()),
        )

    def set(self, cycle: int, **fields: Any) -> None:
        """Store JSON fields (stats, elites, train) or text fields of a cycle's row."""
        cols = []
        vals: list[Any] = []
        for key, value in fields.items():
            if key not in ("stats", "elites", "train", "next_adapter", "finished_at"):
                raise KeyError(key)
            cols.append(f"{key} = ?")
            vals.append(json.dumps(value) if key in ("stats", "elites", "train") else value)
        self.db.execute(
            f"UPDATE finetune_cycles SET {', '.join(cols)} WHERE cycle = ?", (*vals, cycle)
        )

    def cycles(self) -> list[dict[str, Any]]:
        """Every cycle's row, oldest first, JSON fields decoded."""
        return read_cycle_rows(self.db)

    def get(self, cycle: int) -> dict[str, Any] | None:
        return next((c for c in self.cycles() if c["cycle"] == cycle), None)

    def add_reeval(
        self,
        candidate_id: int,
        seed: int,
        cycle: int,
        status: str,
        score: float | None,
        message: str | None,
    ) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO reevals(candidate_id, seed, cycle, status, score,"
            " message, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (candidate_id, seed, cycle, status, score, message, time.time()),
        )

    def reevals(self, cycle: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM reevals", ()
        if cycle is not None:
            sql, args = sql + " WHERE cycle = ?", (cycle,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY candidate_id, seed", args)]


def has_cycle_table(db: sqlite3.Connection) -> bool:
    """Whether an archive holds fine-tuning cycles (a run without them has no such table)."""
    row = db.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name='finetune_cycles'"
    ).fetchone()
    return row is not None


def read_cycle_rows(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every cycle row, oldest first, JSON fields decoded ([] without the table); works on
    a read-only connection."""
    if not has_cycle_table(db):
        return []
    out = []
    for row in db.execute("SELECT * FROM finetune_cycles ORDER BY cycle"):
        d = dict(row)
        for key in ("stats", "elites", "train"):
            d[key] = json.loads(d[key]) if d[key] else None
        out.append(d)
    return out
