"""What the archive says about earlier attempts, beyond the last-K window: the (parent,
modification) pairs already tried, the programs already seen, and the candidates worth
shrinking. The improve node hands these to the improver so it wastes no step."""

from __future__ import annotations

from nasloop.memory.archive import _CANDIDATE_COLS, Archive, Candidate, _to_candidate
from nasloop.sandbox.failures import FailureClass


def tried_pairs(archive: Archive) -> list[tuple[int, str]]:
    """(parent id, modification) of every candidate made from a parent, in step order
    (whatever came of it: trained, failed, duplicate or not generated)."""
    rows = archive.db.execute(
        "SELECT parent_id, modification FROM candidates WHERE parent_id IS NOT NULL"
        " AND modification IS NOT NULL ORDER BY step")
    return [(int(r["parent_id"]), str(r["modification"])) for r in rows]


def program_hashes(archive: Archive, canonical: dict[str, int]) -> dict[str, int]:
    """Every program the archive holds -> the first candidate that had it: structural hashes
    from the archive (duplicates included), plus `canonical` (the novelty index's canonical
    hashes, which the duplicate filter also rejects on)."""
    found = dict(canonical)
    for r in archive.db.execute(
        "SELECT id, structural_hash FROM candidates WHERE structural_hash IS NOT NULL"
        " ORDER BY id"
    ):
        found.setdefault(str(r["structural_hash"]), int(r["id"]))
    return found


def over_cap(archive: Archive, limit: int = 20) -> list[Candidate]:
    """Candidates whose code is valid (it passed the check) but failed only the parameter
    cap, smallest first (unknown sizes last), newest first among equals."""
    rows = archive.db.execute(
        f"SELECT {_CANDIDATE_COLS} FROM candidates WHERE status = 'failed'"
        " AND failure_class = ? AND code IS NOT NULL AND form IS NOT NULL"
        " ORDER BY params IS NULL, params ASC, id DESC LIMIT ?",
        (FailureClass.PARAMS.value, max(0, limit)),
    )
    return [_to_candidate(r) for r in rows]


def newest_valid(archive: Archive) -> Candidate | None:
    """The newest candidate whose code passed the task's check (trained or not)."""
    row = archive.db.execute(
        f"SELECT {_CANDIDATE_COLS} FROM candidates WHERE code IS NOT NULL AND form IS NOT NULL"
        " AND status != 'duplicate' ORDER BY step DESC, id DESC LIMIT 1"
    ).fetchone()
    return _to_candidate(row) if row is not None else None
