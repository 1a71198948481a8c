"""Promoted results: candidates re-trained at larger budgets inside the run ([search.promote]).

They live in their own table, one row per (candidate, epochs, training seed), beside the
candidate's proxy score, which they never overwrite. A row is written once per key, so a
promotion round run again after a crash trains only what is missing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from pydantic import BaseModel

SCHEMA = """
CREATE TABLE IF NOT EXISTS promotions (
    candidate_id INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    score REAL,
    metrics TEXT,
    failure_class TEXT,
    message TEXT,
    wall_s REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (candidate_id, epochs, seed)
)
"""


class Promotion(BaseModel):
    """One longer training of one candidate (the objective's metric on the validation split)."""

    candidate_id: int
    epochs: int
    seed: int
    status: str  # ok | failed
    score: float | None = None
    metrics: dict[str, float] | None = None
    failure_class: str | None = None
    message: str | None = None
    wall_s: float | None = None


def ensure(db: sqlite3.Connection) -> None:
    db.execute(SCHEMA)
    db.commit()


def add(db: sqlite3.Connection, p: Promotion) -> None:
    """Record `p` (a key already recorded keeps its first row)."""
    db.execute(
        "INSERT OR IGNORE INTO promotions(candidate_id, epochs, seed, status, score, metrics,"
        " failure_class, message, wall_s, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (p.candidate_id, p.epochs, p.seed, p.status, p.score,
         json.dumps(p.metrics) if p.metrics is not None else None, p.failure_class, p.message,
         p.wall_s, time.time()))
    db.commit()


def means(promoted: Iterable[Promotion]) -> dict[int, dict[int, float]]:
    """Candidate id -> epochs -> mean score over the seeds that trained (e.g. of `read`)."""
    runs: dict[int, dict[int, list[float]]] = {}
    for p in promoted:
        if p.score is not None:
            runs.setdefault(p.candidate_id, {}).setdefault(p.epochs, []).append(p.score)
    return {cid: {e: sum(v) / len(v) for e, v in sorted(by.items())}
            for cid, by in runs.items()}


def read(db: sqlite3.Connection, candidate_id: int | None = None) -> list[Promotion]:
    """Every promoted result (of one candidate when given), by candidate, epochs, seed; []
    for a run made without promotions (no table)."""
    has = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name ="
                     " 'promotions'").fetchone()
    if has is None:
        return []
    sql, args = "SELECT * FROM promotions", ()
    if candidate_id is not None:
        sql, args = sql + " WHERE candidate_id = ?", (candidate_id,)
    rows = db.execute(sql + " ORDER BY candidate_id, epochs, seed", args)
    out = []
    for r in rows:
        d = dict(zip([c[0] for c in rows.description], r, strict=True))
        d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else None
        d.pop("created_at", None)
        out.append(Promotion(**d))
    return out
