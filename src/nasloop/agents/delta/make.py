"""Make unified diffs with :mod:`difflib`."""

from __future__ import annotations

import difflib

_NO_EOL = "\\ No newline at end of file\n"


def make_diff(parent: str, child: str, path: str = "model.py") -> str:
    """Return a unified diff (``--- a/PATH`` / ``+++ b/PATH``, 3 lines of context).

    Returns ``""`` when ``parent == child``. A last line without a newline is marked
    with ``\\ No newline at end of file`` as GNU diff does.
    """
    if parent == child:
        return ""
    out: list[str] = []
    lines = difflib.unified_diff(
        parent.splitlines(keepends=True),
        child.splitlines(keepends=True),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=3,
    )
    for line in lines:
        if line.endswith("\n"):
            out.append(line)
        else:
            out.append(line + "\n" + _NO_EOL)
    return "".join(out)
