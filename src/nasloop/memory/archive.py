"""The run archive: one SQLite file (WAL) holding every candidate, agent call and triple.

Writes are keyed by the loop step, so a node that runs again after a crash finds its
earlier write instead of making a second one.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from nasloop.memory.triples import Triple

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
  id INTEGER PRIMARY KEY,
  step INTEGER NOT NULL UNIQUE,
  parent_id INTEGER REFERENCES candidates(id),
  origin TEXT NOT NULL,            -- seed:<name> | heuristic | llm model name
  modification TEXT,               -- what the generator was asked to do
  code TEXT,
  diff TEXT,                       -- unified diff against the parent
  status TEXT NOT NULL,            -- pending | checked | duplicate | failed | ok
  form TEXT,                       -- lemur | bare
  structural_hash TEXT,
  minhash BLOB,
  duplicate_of INTEGER,
  score REAL,                      -- the task objective's metric (see meta 'objective')
  params INTEGER,
  flops REAL,
  metrics TEXT,                    -- JSON of every metric the trainer reported
  failure_class TEXT,
  failure_message TEXT,
  traceback_tail TEXT,
  log_tail TEXT,
  gen_s REAL, eval_wall_s REAL, train_s REAL,
  eval_attempts INTEGER NOT NULL DEFAULT 0,  -- sandbox submissions (a crash mid-training: 2)
  instruction TEXT,                -- JSON of the improver's Instruction it realises
  created_at REAL NOT NULL,
  finished_at REAL
);
CREATE INDEX IF NOT EXISTS candidates_hash ON candidates(structural_hash);
CREATE TABLE IF NOT EXISTS agent_calls (
  id INTEGER PRIMARY KEY,
  step INTEGER NOT NULL,
  role TEXT NOT NULL,              -- improver | generator
  model TEXT NOT NULL,
  prompt TEXT NOT NULL,
  response TEXT NOT NULL,
  tokens_in INTEGER, tokens_out INTEGER,
  latency_s REAL NOT NULL,
  ok INTEGER NOT NULL,
  error TEXT,
  created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_calls_step ON agent_calls(step, role);
CREATE TABLE IF NOT EXISTS triples (
  step INTEGER PRIMARY KEY,
  candidate_id INTEGER,
  problem TEXT NOT NULL,
  modification TEXT NOT NULL,
  outcome TEXT NOT NULL,
  delta REAL,
  failure_class TEXT,
  created_at REAL NOT NULL
);
"""


class Candidate(BaseModel):
    """A candidate row as the loop and the reports read it."""

    id: int
    step: int
    parent_id: int | None
    origin: str
    modification: str | None
    code: str | None
    diff: str | None
    status: str
    form: str | None
    structural_hash: str | None
    duplicate_of: int | None
    score: float | None  # the objective's metric; every metric is in `metrics`
    params: int | None
    flops: float | None
    metrics: dict[str, float] | None
    failure_class: str | None
    failure_message: str | None
    traceback_tail: str | None
    gen_s: float | None
    eval_wall_s: float | None
    train_s: float | None
    eval_attempts: int


_CANDIDATE_COLS = ", ".join(Candidate.model_fields)


def migrate(db: sqlite3.Connection) -> None:
    """Bring an archive written by an earlier version up to this schema."""
    cols = {r[1] for r in db.execute("PRAGMA table_info(candidates)")}
    if "instruction" not in cols:
        db.execute("ALTER TABLE candidates ADD COLUMN instruction TEXT")
    if "score" not in cols:  # before the task seam, the one metric was val_accuracy
        db.execute("ALTER TABLE candidates ADD COLUMN score REAL")
        if "val_accuracy" in cols:
            db.execute("UPDATE candidates SET score = val_accuracy")


class Archive:
    """SQLite-backed record of a run. One writer: the orchestrator.

    `direction` is the objective's ("max" or "min"): what `best` and `top` rank by."""

    def __init__(self, path: str | Path, direction: str = "max") -> None:
        self.path = Path(path)
        self.order = "DESC" if direction == "max" else "ASC"
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    # --- meta -----------------------------------------------------------------
    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def get_meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row["value"]) if row else default

    # --- candidates -----------------------------------------------------------
    def add_candidate(
        self,
        step: int,
        *,
        parent_id: int | None,
        origin: str,
        modification: str | None,
        code: str | None,
        diff: str | None,
        gen_s: float,
        status: str = "pending",
        instruction: str | None = None,
    ) -> int:
        """Insert the candidate of `step`, or return the one a previous attempt inserted."""
        found = self.candidate_at(step)
        if found is not None:
            return found
        cur = self.db.execute(
            "INSERT INTO candidates(step, parent_id, origin, modification, code, diff, status,"
            " gen_s, created_at, instruction) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step,
                parent_id,
                origin,
                modification,
                code,
                diff,
                status,
                gen_s,
                time.time(),
                instruction,
            ),
        )
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def candidate_at(self, step: int) -> int | None:
        """Id of the candidate of `step`, if one was inserted."""
        row = self.db.execute("SELECT id FROM candidates WHERE step = ?", (step,)).fetchone()
        return int(row["id"]) if row else None

    def instruction(self, cid: int) -> dict[str, Any] | None:
        """The instruction a candidate realises (None for seeds and older archives)."""
        row = self.db.execute(
            "SELECT instruction FROM candidates WHERE id = ?", (cid,)
        ).fetchone()
        return json.loads(row["instruction"]) if row and row["instruction"] else None

    def recent_instructions(self, last: int) -> list[tuple[int, dict[str, Any]]]:
        """(step, instruction) of the newest `last` candidates made from a parent by an
        instruction, newest first (code and results are not read)."""
        rows = self.db.execute(
            "SELECT step, instruction FROM candidates WHERE parent_id IS NOT NULL"
            " AND instruction IS NOT NULL AND instruction != ''"
            " ORDER BY step DESC, id DESC LIMIT ?",
            (max(0, last),),
        )
        return [(int(r["step"]), json.loads(r["instruction"])) for r in rows]

    def get(self, cid: int) -> Candidate:
        row = self.db.execute(
            f"SELECT {_CANDIDATE_COLS} FROM candidates WHERE id = ?", (cid,)
        ).fetchone()
        if row is None:
            raise KeyError(f"no candidate {cid}")
        return _to_candidate(row)

    def candidates(self, status: str | None = None) -> list[Candidate]:
        sql = f"SELECT {_CANDIDATE_COLS} FROM candidates"
        args: tuple[Any, ...] = ()
        if status:
            sql, args = sql + " WHERE status = ?", (status,)
        return [_to_candidate(r) for r in self.db.execute(sql + " ORDER BY step", args)]

    def set_checked(self, cid: int, form: str, structural_hash: str, minhash: bytes) -> None:
        self.db.execute(
            "UPDATE candidates SET status='checked', form=?, structural_hash=?, minhash=?"
            " WHERE id=?",
            (form, structural_hash, minhash, cid),
        )

    def set_duplicate(self, cid: int, duplicate_of: int, message: str) -> None:
        self.db.execute(
            "UPDATE candidates SET status='duplicate', duplicate_of=?, failure_class='duplicate',"
            " failure_message=?, finished_at=? WHERE id=?",
            (duplicate_of, message, time.time(), cid),
        )

    def set_failed(
        self,
        cid: int,
        failure_class: str,
        message: str,
        traceback_tail: str | None = None,
        *,
        form: str | None = None,
        metrics: dict[str, float] | None = None,
        eval_wall_s: float | None = None,
        log_tail: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE candidates SET status='failed', failure_class=?, failure_message=?,"
            " traceback_tail=?, form=COALESCE(?, form), metrics=?, params=?, eval_wall_s=?,"
            " log_tail=?, finished_at=? WHERE id=?",
            (
                failure_class,
                message,
                traceback_tail,
                form,
                json.dumps(metrics) if metrics else None,
                _int_or_none((metrics or {}).get("params")),
                eval_wall_s,
                log_tail,
                time.time(),
                cid,
            ),
        )

    def set_ok(
        self,
        cid: int,
        *,
        form: str | None,
        score: float,
        metrics: dict[str, float],
        eval_wall_s: float,
        log_tail: str | None = None,
    ) -> None:
        self.db.execute(
            "UPDATE candidates SET status='ok', form=COALESCE(?, form), score=?, params=?,"
            " flops=?, metrics=?, train_s=?, eval_wall_s=?, log_tail=?, finished_at=? WHERE id=?",
            (
                form,
                score,
                _int_or_none(metrics.get("params")),
                metrics.get("flops"),
                json.dumps(metrics),
                metrics.get("train_s"),
                eval_wall_s,
                log_tail,
                time.time(),
                cid,
            ),
        )

    def set_score(self, cid: int, score: float, metrics: dict[str, float]) -> None:
        """Rewrite a trained candidate's score and metrics (scores relative to the whole
        archive, such as normalised accuracy, change as the run goes)."""
        self.db.execute("UPDATE candidates SET score=?, metrics=? WHERE id=? AND status='ok'",
                        (score, json.dumps(metrics), cid))

    def start_eval(self, cid: int) -> None:
        """Count a submission to the sandbox (what shows that nothing was trained twice)."""
        self.db.execute(
            "UPDATE candidates SET eval_attempts = eval_attempts + 1 WHERE id=?", (cid,)
        )

    def find_hash(self, structural_hash: str, exclude: int) -> int | None:
        """An earlier non-duplicate candidate with the same structural hash."""
        row = self.db.execute(
            "SELECT id FROM candidates WHERE structural_hash = ? AND id != ?"
            " AND status IN ('checked', 'ok', 'failed') ORDER BY id LIMIT 1",
            (structural_hash, exclude),
        ).fetchone()
        return int(row["id"]) if row else None

    def signature(self, cid: int) -> bytes:
        """The MinHash signature the check stored for a candidate (KeyError if none)."""
        row = self.db.execute("SELECT minhash FROM candidates WHERE id = ?", (cid,)).fetchone()
        if row is None or row["minhash"] is None:
            raise KeyError(f"candidate {cid} has no signature (not checked)")
        return bytes(row["minhash"])

    def signatures(self) -> Iterator[tuple[int, bytes]]:
        """MinHash signatures of every candidate that entered the novelty index."""
        for row in self.db.execute(
            "SELECT id, minhash FROM candidates WHERE minhash IS NOT NULL"
            " AND status IN ('checked', 'ok', 'failed') ORDER BY id"
        ):
            yield int(row["id"]), bytes(row["minhash"])

    def best(self) -> Candidate | None:
        """The trained candidate with the best score (earliest on ties)."""
        top = self.top(1)
        return top[0] if top else None

    def top(self, k: int) -> list[Candidate]:
        """The `k` trained candidates with the best scores, best first (earliest on ties)."""
        rows = self.db.execute(
            f"SELECT {_CANDIDATE_COLS} FROM candidates WHERE status='ok' AND score IS NOT NULL"
            f" ORDER BY score {self.order}, id ASC LIMIT ?",
            (k,),
        )
        return [_to_candidate(r) for r in rows]

    def count_steps(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0])

    # --- agent calls and triples ---------------------------------------------
    def add_agent_call(
        self,
        step: int,
        role: str,
        model: str,
        prompt: str,
        response: str,
        latency_s: float,
        *,
        ok: bool = True,
        error: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO agent_calls(step, role, model, prompt, response, tokens_in, tokens_out,"
            " latency_s, ok, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                step,
                role,
                model,
                prompt,
                response,
                tokens_in,
                tokens_out,
                latency_s,
                int(ok),
                error,
                time.time(),
            ),
        )

    def agent_calls(self, step: int | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM agent_calls", ()
        if step is not None:
            sql, args = sql + " WHERE step = ?", (step,)
        return [dict(r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def forget_agent_calls(self, step: int, role: str) -> None:
        """Drop calls of an attempt that a crash cut short, before the step runs again."""
        self.db.execute("DELETE FROM agent_calls WHERE step = ? AND role = ?", (step, role))

    def add_triple(self, triple: Triple) -> None:
        """Record the triple of a step (a repeated step keeps the first record)."""
        self.db.execute(
            "INSERT OR IGNORE INTO triples(step, candidate_id, problem, modification, outcome,"
            " delta, failure_class, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                triple.step,
                triple.candidate_id,
                triple.problem,
                triple.modification,
                triple.outcome,
                triple.delta,
                triple.failure_class,
                time.time(),
            ),
        )

    def triples(self, last: int | None = None, before: int | None = None) -> list[Triple]:
        """Triples oldest first: the `last` ones, of steps before `before` when given."""
        sql, args = "SELECT * FROM triples", ()
        if before is not None:
            sql, args = sql + " WHERE step < ?", (before,)
        if last is None:
            rows = list(self.db.execute(sql + " ORDER BY step", args))
        else:  # the newest `last` in SQL, not every triple read to keep a few
            newest = self.db.execute(
                sql + " ORDER BY step DESC, rowid DESC LIMIT ?", (*args, max(0, last))
            )
            rows = list(newest)[::-1]
        return [
            Triple(
                step=r["step"],
                candidate_id=r["candidate_id"],
                problem=r["problem"],
                modification=r["modification"],
                outcome=r["outcome"],
                delta=r["delta"],
                failure_class=r["failure_class"],
            )
            for r in rows
        ]


def _int_or_none(v: float | None) -> int | None:
    return None if v is None or not math.isfinite(v) else int(v)


def _to_candidate(row: sqlite3.Row) -> Candidate:
    data = dict(row)
    data["metrics"] = json.loads(data["metrics"]) if data["metrics"] else None
    return Candidate(**data)
