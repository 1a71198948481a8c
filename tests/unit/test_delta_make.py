"""make_diff: headers, hunks, and round trips through our applier and GNU patch."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nasloop.agents.delta import apply_diff, make_diff

PARENT = "".join(f"line {i}\n" for i in range(1, 31))


def _child() -> str:
    lines = PARENT.splitlines(keepends=True)
    lines[2] = "line three\n"
    lines.insert(20, "inserted\n")
    del lines[27]
    return "".join(lines)


def test_equal_texts_give_empty_diff() -> None:
    assert make_diff(PARENT, PARENT) == ""


def test_headers_and_hunks() -> None:
    diff = make_diff(PARENT, _child(), path="nets/model.py")
    lines = diff.splitlines()
    assert lines[:2] == ["--- a/nets/model.py", "+++ b/nets/model.py"]
    headers = [ln for ln in lines if ln.startswith("@@")]
    assert headers == ["@@ -1,6 +1,6 @@", "@@ -18,13 +18,13 @@"]
    assert "-line 3" in lines and "+line three" in lines


@pytest.mark.parametrize(
    ("parent", "child"),
    [
        (PARENT, _child()),
        ("", "a\nb\n"),
        ("a\nb\n", ""),
        ("a\nb", "a\nb\n"),
        ("a\nb\n", "a\nc"),
        ("x = 1\r\ny = 2\r\n", "x = 1\r\ny = 3\r\n"),
    ],
)
def test_round_trip_through_apply_diff(parent: str, child: str) -> None:
    result = apply_diff(parent, make_diff(parent, child))
    assert result.ok
    assert result.code == child
    assert all(h.status == "exact" for h in result.hunks)


@pytest.mark.skipif(shutil.which("patch") is None, reason="GNU patch not installed")
@pytest.mark.parametrize("child", [_child(), PARENT + "tail without newline"])
def test_gnu_patch_accepts_our_diffs(tmp_path: Path, child: str) -> None:
    (tmp_path / "model.py").write_text(PARENT)
    (tmp_path / "d.diff").write_text(make_diff(PARENT, child))
    subprocess.run(["patch", "-p1", "-s", "-i", "d.diff"], cwd=tmp_path, check=True)
    assert (tmp_path / "model.py").read_text() == child
