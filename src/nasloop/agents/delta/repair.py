"""Repair the ways language models break unified-diff syntax, so unidiff can parse the result.

unidiff is strict: hunk lengths in ``@@`` headers must match the body exactly (a wrong
count silently drops lines or raises), hunks need file headers, and every body line
needs a one-character prefix. Models get all three wrong. :func:`repair_diff` rewrites
the text into canonical form; it never guesses content, it only

- turns CRLF / CR line endings into LF;
- recounts every hunk's lengths from its body, remembering the header's old start line
  as a hint (``None`` when the header is garbled or bare ``@@``);
- adds ``--- a/X`` / ``+++ b/X`` headers where they are missing or half-present
  (name ``None`` when the diff names no file);
- reads an empty body line as an empty context line, and a body line without a prefix
  as a context line (models drop the leading space), except at the end of a hunk, where
  such lines are prose and dropped;
- starts a hunk for body lines that follow a file header without any ``@@`` line, and
  treats a headerless text of only ``+``/``-``/`` `` lines as one hunk.

Lines outside hunks that are not headers (prose, fences, ``index`` lines) are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK_HEADER = re.compile(r"^@@+\s*(?:-(\d+)(?:,(\d+))?)?\s*(?:\+(\d+)(?:,(\d+))?)?")
_GIT_HEADER = re.compile(r"^diff --git\s+(\S+)(?:\s+(\S+))?")
_META = re.compile(
    r"^(index |new file mode|deleted file mode|old mode|new mode|similarity index|"
    r"rename from|rename to|Index: |=+$)"
)
_BODY_PREFIXES = (" ", "+", "-", "\\")


@dataclass
class RepairedFile:
    """One file section of a repaired diff."""

    old_name: str | None = None
    new_name: str | None = None
    hunks: list[list[str]] = field(default_factory=list)  # canonical body lines
    hints: list[int | None] = field(default_factory=list)  # 0-based old start per hunk


def _clean_name(raw: str) -> str | None:
    name = raw.split("\t")[0].strip().strip('"')
    name = re.sub(r"\s+\(.*\)$", "", name)  # "model.py (original)"
    if not name or name == "/dev/null":
        return None
    return re.sub(r"^[abciow12]/", "", name)


def _hint(header: str) -> int | None:
    m = _HUNK_HEADER.match(header)
    if not m or m.group(1) is None:
        return None
    start, length = int(m.group(1)), m.group(2)
    if start == 0:
        return 0 if length == "0" else None
    return start - 1


def _trim_trailing_prose(body: list[str], raw_flags: list[bool]) -> list[str]:
    """Drop unprefixed / empty lines at the end of a hunk: they are prose or padding."""
    end = len(body)
    while end and raw_flags[end - 1]:
        end -= 1
    return body[:end]


class _Builder:
    def __init__(self) -> None:
        self.files: list[RepairedFile] = []
        self.body: list[str] | None = None
        self.flags: list[bool] = []

    def close_hunk(self) -> None:
        if self.body is not None:
            body = _trim_trailing_prose(self.body, self.flags)
            if any(line[:1] in "+- " for line in body):
                self.files[-1].hunks.append(body)
            else:
                self.files[-1].hints.pop()
        self.body, self.flags = None, []

    def file(self, fresh: bool) -> RepairedFile:
        if fresh or not self.files or self.files[-1].hunks or self.body is not None:
            self.close_hunk()
            self.files.append(RepairedFile())
        return self.files[-1]

    def open_hunk(self, hint: int | None) -> None:
        self.close_hunk()
        if not self.files:
            self.files.append(RepairedFile())
        self.files[-1].hints.append(hint)
        self.body, self.flags = [], []

    def add(self, line: str, raw: bool) -> None:
        assert self.body is not None
        self.body.append(line)
        self.flags.append(raw)


def _scan(lines: list[str]) -> list[RepairedFile]:
    b = _Builder()
    i = 0
    while i < len(lines):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        git = _GIT_HEADER.match(line)
        if git:
            f = b.file(fresh=True)
            f.old_name = _clean_name(git.group(1))
            f.new_name = _clean_name(git.group(2) or git.group(1))
        elif line.startswith("--- ") and nxt.startswith("+++ "):
            git_open = b.files and not b.files[-1].hunks and b.body is None
            f = b.file(fresh=not git_open)
            f.old_name = _clean_name(line[4:]) or f.old_name
            f.new_name = _clean_name(nxt[4:]) or f.new_name
            i += 1
        elif line.startswith("@@"):
            b.open_hunk(_hint(line))
        elif b.body is not None:
            if line.startswith(_BODY_PREFIXES):
                b.add(line, raw=False)
            elif line == "":
                b.add(" ", raw=True)
            elif line.startswith(("--- ", "+++ ")) or _META.match(line):
                b.close_hunk()
                if line.startswith("--- "):
                    b.file(fresh=True).old_name = _clean_name(line[4:])
                elif line.startswith("+++ "):
                    b.file(fresh=True).new_name = _clean_name(line[4:])
            else:
                b.add(" " + line, raw=True)
        elif line.startswith(("--- ", "+++ ")):
            f = b.file(fresh=False)
            if line.startswith("--- "):
                f.old_name = _clean_name(line[4:])
            else:
                f.new_name = _clean_name(line[4:])
        elif b.files and line.startswith(("+", "-", " ")) and line.strip():
            b.open_hunk(None)  # body lines after a file header, no @@ line
            continue
        i += 1
    b.close_hunk()
    return [f for f in b.files if f.hunks]


def _bare_hunk(lines: list[str]) -> list[RepairedFile]:
    """A text of only body lines (no headers, no ``@@``) as one anonymous hunk."""
    body = [ln if ln else " " for ln in lines]
    while body and body[-1] == " ":
        body.pop()
    if not body or not all(ln.startswith(_BODY_PREFIXES) for ln in body):
        return []
    if not any(ln[:1] in "+-" for ln in body):
        return []
    return [RepairedFile(hunks=[body], hints=[None])]


def repair_diff(text: str) -> tuple[str, list[RepairedFile]]:
    """Return ``(canonical_diff_text, files)`` for unidiff; ``files`` carries the hints."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    files = _scan(lines)
    if not files and not any(ln.startswith(("@@", "--- ", "+++ ")) for ln in lines):
        files = _bare_hunk(lines)
    out: list[str] = []
    for f in files:
        out.append(f"--- a/{f.old_name or f.new_name or 'unnamed'}")
        out.append(f"+++ b/{f.new_name or f.old_name or 'unnamed'}")
        for hint, body in zip(f.hints, f.hunks, strict=True):
            old = sum(1 for ln in body if ln[:1] in " -")
            new = sum(1 for ln in body if ln[:1] in " +")
            start = 0 if hint is None else hint + 1
            out.append(f"@@ -{start},{old} +{start},{new} @@")
            out.extend(body)
    return "".join(ln + "\n" for ln in out), files
