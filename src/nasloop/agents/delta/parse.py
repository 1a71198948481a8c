"""Parse (repaired) unified diffs with unidiff and pick the file section to apply."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from nasloop.agents.delta.repair import repair_diff


@dataclass(frozen=True)
class ParsedHunk:
    """One hunk: ``lines`` are ``(tag, text)`` with tag in ``' '``, ``'-'``, ``'+'``."""

    lines: tuple[tuple[str, str], ...]
    hint: int | None  # 0-based line of the original where the header says it starts
    old_no_eol: bool = False  # old side ends without a newline
    new_no_eol: bool = False  # new side ends without a newline


@dataclass(frozen=True)
class ParsedFile:
    """One file section of a diff."""

    name: str | None
    hunks: tuple[ParsedHunk, ...]


def parse_diff(text: str) -> list[ParsedFile]:
    """Repair ``text`` (see :mod:`.repair`) and parse it with unidiff.

    Raises ``ValueError`` if unidiff rejects the repaired text.
    """
    canonical, repaired = repair_diff(text)
    if not repaired:
        return []
    try:
        patch = PatchSet(canonical)
    except UnidiffParseError as exc:  # repair should prevent this; report, do not crash
        raise ValueError(f"unparseable diff: {exc}") from exc
    files: list[ParsedFile] = []
    for pfile, rfile in zip(patch, repaired, strict=True):
        hunks = []
        for hunk, hint in zip(pfile, rfile.hints, strict=True):
            lines: list[tuple[str, str]] = []
            old_no_eol = new_no_eol = False
            for line in hunk:
                if line.line_type == "\\":
                    last = lines[-1][0] if lines else " "
                    old_no_eol |= last in " -"
                    new_no_eol |= last in " +"
                    continue
                lines.append((line.line_type, line.value.rstrip("\n")))
            hunks.append(ParsedHunk(tuple(lines), hint, old_no_eol, new_no_eol))
        files.append(ParsedFile(rfile.new_name or rfile.old_name, tuple(hunks)))
    return files


def _matches(name: str, path: str) -> bool:
    name, path = posixpath.normpath(name), posixpath.normpath(path)
    return (
        name == path
        or name.endswith("/" + path)
        or path.endswith("/" + name)
        or posixpath.basename(name) == posixpath.basename(path)
    )


def select_hunks(files: list[ParsedFile], path: str | None) -> tuple[list[ParsedHunk], str]:
    """Pick the hunks meant for ``path`` (or for the only Python file); ``(hunks, reason)``.

    Sections naming the same file are merged (models split one diff into several blocks).
    Unnamed sections are used when no named section matches. ``reason`` explains an
    empty result.
    """
    if not files:
        return [], "no hunks found in the diff"
    named = [f for f in files if f.name]
    anonymous = [f for f in files if not f.name]
    chosen: list[ParsedFile] = []
    if path is not None:
        chosen = [f for f in named if f.name and _matches(f.name, path)]
    if not chosen and anonymous:
        chosen = anonymous
    if not chosen:
        py_names = {f.name for f in named if f.name and f.name.endswith(".py")}
        names = py_names or {f.name for f in named}
        if len(names) == 1:
            chosen = [f for f in named if f.name in names]
        else:
            listed = ", ".join(sorted(str(n) for n in {f.name for f in named}))
            return [], f"diff names {listed}; cannot tell which one is {path or 'the model'}"
    return [h for f in chosen for h in f.hunks], ""
