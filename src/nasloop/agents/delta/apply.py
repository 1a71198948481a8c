"""Apply unified diffs written by language models, tolerantly but never blindly.

No library does this, so the applier is our own. GNU ``patch`` and ``git apply`` need
well-formed headers, trim context only from hunk ends, do not re-indent, and apply a
hunk at the first place it fits near its line number without asking whether it fits
elsewhere too; Python libraries either only parse unified diffs (unidiff, whatthepatch)
or apply them strictly (whatthepatch, patch-ng); diff-match-patch matches fuzzily but on
its own character-level patch format. Here:

- every hunk is located in the *original* file (so hunks may come in any order), by
  the searches in :mod:`.locate` (verbatim block, then whitespace-insensitive block,
  then an alignment that tolerates missing and extra context lines);
- when a hunk fits several places equally well, the header's line number (or the
  offset shared by the other hunks) may pick one only if it points at exactly one of
  them; otherwise the hunk fails as ambiguous. Overlapping hunks fail too;
- context lines keep the file's own text; added lines are re-indented when the whole
  hunk's indentation drifted (measured on the removed lines, else on the context);
- line endings follow the original (CRLF stays CRLF); the final newline follows the
  original unless a ``\\ No newline at end of file`` marker says otherwise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from nasloop.agents.delta.locate import Placement, aligned, contiguous
from nasloop.agents.delta.models import ApplyResult, HunkReport, HunkStatus
from nasloop.agents.delta.parse import ParsedHunk, parse_diff, select_hunks

_NEAR = 3  # a header line number within this many lines of a match may break a tie


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    lines: tuple[str, ...]
    status: HunkStatus
    offset: int
    detail: str


def _indent(s: str) -> int:
    return len(s) - len(s.lstrip(" "))


def _indent_delta(hunk: ParsedHunk, pl: Placement, file: Sequence[str]) -> int:
    """How far the file's indentation sits from the diff's (0 when it did not drift)."""
    removed: list[int] = []
    context: list[int] = []
    old = [(t, s) for t, s in hunk.lines if t != "+"]
    for (tag, text), j in zip(old, pl.pairs, strict=True):
        if j is None or not text.strip() or text[:1] == "\t" or file[j][:1] == "\t":
            continue
        (removed if tag == "-" else context).append(_indent(file[j]) - _indent(text))
    if removed:
        return Counter(removed).most_common(1)[0][0]
    if context:
        delta = Counter(context).most_common(1)[0][0]
        return 0 if delta == 1 else delta  # +1: the diff's one-space prefix was dropped
    return 0


def _reindent(text: str, delta: int) -> str:
    if not delta or not text.strip() or text[:1] == "\t":
        return text
    return " " * max(0, _indent(text) + delta) + text.lstrip(" ")


def _build(
    hunk: ParsedHunk, pl: Placement, file: Sequence[str], delta: int
) -> tuple[str, ...] | str:
    """Replacement lines for ``file[pl.start:pl.end]``, or a reason it is ambiguous."""
    out: list[str] = []
    cursor, k, floating, last_tag = pl.start, 0, False, ""
    for tag, text in hunk.lines:
        if tag == "+":
            out.append(_reindent(text, delta))
            floating = floating or cursor == pl.start or last_tag == " "
            continue
        j = pl.pairs[k]
        k += 1
        if j is None:
            continue
        if j > cursor:
            if floating:
                return (
                    f"added lines sit next to file lines {cursor + 1}-{j} that the diff "
                    "does not show; their place is ambiguous"
                )
            out.extend(file[cursor:j])
        if tag == " ":
            out.append(file[j])
        cursor, last_tag, floating = j + 1, tag, False
    return tuple(out)


def _core(start: int, end: int, lines: tuple[str, ...], file: Sequence[str]) -> _Edit:
    """Shrink an edit to the lines it changes, so hunks may share context lines."""
    while start < end and lines and file[start] == lines[0]:
        start, lines = start + 1, lines[1:]
    while start < end and lines and file[end - 1] == lines[-1]:
        end, lines = end - 1, lines[:-1]
    return _Edit(start, end, lines, "exact", 0, "")


def _edit(hunk: ParsedHunk, pl: Placement, file: Sequence[str]) -> _Edit | str:
    delta = 0 if pl.level == "verbatim" else _indent_delta(hunk, pl, file)
    lines = _build(hunk, pl, file, delta)
    if isinstance(lines, str):
        return lines
    core = _core(pl.start, pl.end, lines, file)
    offset = 0 if hunk.hint is None else pl.start - hunk.hint
    if pl.level == "verbatim" and hunk.hint is not None and offset == 0:
        return core
    if pl.level == "verbatim":
        detail = "" if hunk.hint is not None else "header gives no line number"
        return replace(core, status="offset", offset=offset, detail=detail)
    parts = [pl.level]
    if pl.level == "aligned":
        old = [s for t, s in hunk.lines if t != "+"]
        pairs = zip(old, pl.pairs, strict=True)
        exact = all(s.rstrip() == file[j].rstrip() for s, j in pairs if j is not None)
        missing = sum(p is None for p in pl.pairs)
        parts = [] if exact else ["whitespace ignored"]
        if missing:
            parts.append(f"{missing} context line(s) of the diff not in the file")
        if pl.skipped_file:
            parts.append(f"{pl.skipped_file} file line(s) missing from the diff's context")
    if delta:
        parts.append(f"added lines re-indented by {delta:+d}")
    return replace(core, status="fuzzy", offset=offset, detail="; ".join(parts))


def _candidates(hunk: ParsedHunk, file: Sequence[str]) -> list[_Edit] | str:
    """Distinct edits (by resulting text) the hunk could make, best quality only."""
    old = [s for t, s in hunk.lines if t != "+"]
    removed = [t == "-" for t, _ in hunk.lines if t != "+"]
    if not old:
        if not file:
            added = tuple(s for t, s in hunk.lines if t == "+")
            return [_Edit(0, 0, added, "exact", 0, "")]
        return "hunk has no context or removed lines to anchor it"
    placements = contiguous(old, file) or aligned(old, removed, file)
    if not placements:
        return "its removed/context lines are not in the file"
    edits: dict[tuple[str, ...], _Edit] = {}
    reasons = []
    for pl in placements:
        e = _edit(hunk, pl, file)
        if isinstance(e, str):
            reasons.append(e)
            continue
        result = (*file[: e.start], *e.lines, *file[e.end :])
        edits.setdefault(result, e)
    if not edits:
        return reasons[0]
    return list(edits.values())


def _overlaps(e: _Edit, placed: Sequence[_Edit]) -> bool:
    """True if ``e`` changes lines another edit changes (or inserts at the same place)."""
    return any(
        (e.start < p.end and p.start < e.end)
        or (e.start == p.start and (e.start == e.end or p.start == p.end))
        or (e.start == e.end and p.start < e.start < p.end)
        or (p.start == p.end and e.start < p.start < e.end)
        for p in placed
    )


def _tie_break(free: list[_Edit], hint: int | None, offsets: set[int]) -> list[_Edit]:
    """Narrow equal candidates by the header's line number or the other hunks' offset."""
    if len(free) < 2 or hint is None:
        return free
    for rule, keep in (
        ("at the header's line", lambda e: e.offset == 0),
        (f"within {_NEAR} lines of the header's line", lambda e: abs(e.offset) <= _NEAR),
        ("at the offset the other hunks have", lambda e: e.offset in offsets),
    ):
        kept = [e for e in free if keep(e)]
        if len(kept) == 1:
            note = f"{len(free)} equal matches; took the one {rule}"
            return [replace(kept[0], detail="; ".join(filter(None, [kept[0].detail, note])))]
    return free


def _resolve(hints: list[int | None], cands: list[list[_Edit] | str]) -> list[_Edit | str]:
    """Pick one edit per hunk; ties are broken only by unambiguous evidence.

    Hunks with one candidate are placed first; their places and offsets then help
    decide the others (a place another hunk changes is not free). What stays tied fails.
    """
    chosen: list[_Edit | str | None] = [
        c if isinstance(c, str) else (c[0] if len(c) == 1 else None) for c in cands
    ]
    changed = True
    while changed and None in chosen:
        changed = False
        placed = [c for c in chosen if isinstance(c, _Edit)]
        offsets = {
            c.offset
            for c, h in zip(chosen, hints, strict=True)
            if isinstance(c, _Edit) and h is not None
        }
        for i, c in enumerate(cands):
            if chosen[i] is not None or isinstance(c, str):
                continue
            free = _tie_break([e for e in c if not _overlaps(e, placed)], hints[i], offsets)
            if len(free) == 1:
                chosen[i], changed = free[0], True
            elif not free:
                chosen[i], changed = "every place it fits is taken by another hunk", True
    out: list[_Edit | str] = []
    for c, cand in zip(chosen, cands, strict=True):
        if c is None:
            lines = ", ".join(str(e.start + 1) for e in cand if isinstance(e, _Edit))
            c = f"fits several places equally well (lines {lines})"
        out.append(c)
    return out


def apply_diff(original: str, diff_text: str, path: str | None = None) -> ApplyResult:
    """Apply ``diff_text`` to ``original`` tolerantly; report per hunk what happened.

    ``path`` picks the file section when the diff names several (default: the only
    Python file). ``ok`` is true only if the diff had hunks and every one applied; then
    ``code`` is the patched text. A diff that cannot be parsed at all gives one report
    with ``index=-1``.
    """
    try:
        hunks, reason = select_hunks(parse_diff(diff_text), path)
    except ValueError as exc:
        hunks, reason = [], str(exc)
    if not hunks:
        report = HunkReport(index=-1, status="failed", detail=reason)
        return ApplyResult(code=None, hunks=[report], ok=False)
    crlf = original.count("\r\n") * 2 > original.count("\n")
    text = original.replace("\r\n", "\n").replace("\r", "\n")
    final_nl = text.endswith("\n") or not text
    file = text.split("\n")
    if final_nl:
        file.pop()
    chosen = _resolve([h.hint for h in hunks], [_candidates(h, file) for h in hunks])
    reports: list[HunkReport] = []
    applied: list[tuple[_Edit, ParsedHunk]] = []
    for i, (c, hunk) in enumerate(zip(chosen, hunks, strict=True)):
        if isinstance(c, _Edit) and _overlaps(c, [e for e, _ in applied]):
            c = "overlaps an earlier hunk"
        if isinstance(c, str):
            reports.append(HunkReport(index=i, status="failed", detail=c))
            continue
        applied.append((c, hunk))
        reports.append(HunkReport(index=i, status=c.status, offset=c.offset, detail=c.detail))
    n = len(file)
    for e, hunk in sorted(applied, key=lambda a: a[0].start, reverse=True):
        if e.end == n and hunk.new_no_eol:
            final_nl = False
        elif e.end == n and hunk.old_no_eol:
            final_nl = True
        file[e.start : e.end] = e.lines
    eol = "\r\n" if crlf else "\n"
    code = eol.join(file) + (eol if final_nl and file else "")
    ok = all(r.status != "failed" for r in reports)
    return ApplyResult(code=code, hunks=reports, ok=ok)
