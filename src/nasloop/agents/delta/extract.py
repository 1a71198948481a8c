"""Pull a unified diff out of a language model's answer."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)")
_DIFF_INFO = {"diff", "patch", "udiff", "git-diff"}
_HEADER = re.compile(r"^@@.*-\s*\d+(?:,(\d+))?\s+\+\s*\d+(?:,(\d+))?")


@dataclass
class _Block:
    info: str
    lines: list[str]
    closed: bool


def _blocks(lines: list[str]) -> list[_Block]:
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, body = m.group(1), []
        i += 1
        while i < len(lines):
            close = _FENCE.match(lines[i])
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                if not close.group(2):
                    break
            body.append(lines[i])
            i += 1
        blocks.append(_Block(m.group(2).lower(), body, i < len(lines)))
        i += 1
    return blocks


def _is_diff(lines: list[str], info: str = "") -> bool:
    if any(ln.startswith("@@") for ln in lines):
        return True
    if any(ln.startswith("--- ") for ln in lines) and any(ln.startswith("+++ ") for ln in lines):
        return True
    return info in _DIFF_INFO and any(ln.startswith(("+", "-")) for ln in lines)


def _truncated(lines: list[str]) -> bool:
    """True if the last hunk is shorter than its header's counts say."""
    for i in range(len(lines) - 1, -1, -1):
        m = _HEADER.match(lines[i])
        if m:
            body = lines[i + 1 :]
            while body and not body[-1]:
                body.pop()
            old = sum(1 for ln in body if not ln or ln[0] in " -")
            new = sum(1 for ln in body if not ln or ln[0] in " +")
            want_old = int(m.group(1)) if m.group(1) is not None else 1
            want_new = int(m.group(2)) if m.group(2) is not None else 1
            return old < want_old or new < want_new
        if lines[i].startswith("@@"):
            return False
    return False


def _unfenced(lines: list[str]) -> list[str]:
    start = None
    for i, ln in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        pair = ln.startswith("--- ") and nxt.startswith("+++ ")
        if pair or ln.startswith(("diff --git", "@@")):
            start = i
            break
    if start is None:
        return []
    end = start
    for i in range(start, len(lines)):
        if lines[i].startswith(("+", "-", "@@", "\\")) or (
            lines[i].startswith(" ") and lines[i].strip()
        ):
            end = i
    return lines[start : end + 1]


def extract_diff(text: str) -> str | None:
    """Return the unified diff in an LLM answer, or ``None`` when there is none.

    Takes every fenced block that holds a diff (```` ```diff ````, ```` ```patch ````, or
    any fence whose body has ``@@`` / ``---``+``+++`` lines) and joins them in order;
    without such blocks, takes the span from the first diff header to the last diff
    line, dropping prose around it. An answer cut off inside its diff (an unclosed fence
    whose last hunk is shorter than its header says) gives ``None``: applying the rest
    would make a partial change.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    found = [b for b in _blocks(lines) if _is_diff(b.lines, b.info)]
    if found:
        if not found[-1].closed and _truncated(found[-1].lines):
            return None
        body = [ln for b in found for ln in b.lines]
    else:
        body = _unfenced(lines)
        if body and not _is_diff(body):
            body = []
    while body and not body[-1].strip():
        body.pop()
    return "\n".join(body) + "\n" if body else None
