"""Result types reported by the diff applier."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

HunkStatus = Literal["exact", "offset", "fuzzy", "failed"]


class HunkReport(BaseModel):
    """What happened to one hunk (``index`` counts from 0 in diff order).

    ``exact``: the old lines matched verbatim at the line the ``@@`` header names;
    ``offset``: they matched verbatim (modulo line endings) elsewhere, ``offset`` lines away;
    ``fuzzy``: they matched only after tolerating whitespace or context differences
    (``detail`` says which); ``failed``: not applied, ``detail`` says why.
    """

    index: int
    status: HunkStatus
    offset: int = 0
    detail: str = ""


class ApplyResult(BaseModel):
    """Outcome of :func:`apply_diff`: ``ok`` only if every hunk applied.

    ``code`` is the patched text when ``ok``; when some hunks failed it holds the text
    with the applicable hunks applied (useful for diagnostics), or ``None`` when no
    diff could be parsed at all.
    """

    code: str | None
    hunks: list[HunkReport]
    ok: bool
