"""extract_diff on answers shaped like real model output."""

from __future__ import annotations

from nasloop.agents.delta import apply_diff, extract_diff

PARENT = "import torch\n\n\nclass Net:\n    width = 16\n    depth = 2\n    act = 'relu'\n"
HUNK_1 = "@@ -5,2 +5,2 @@\n-    width = 16\n+    width = 32\n     depth = 2\n"
HUNK_2 = "@@ -6,2 +6,2 @@\n     depth = 2\n-    act = 'relu'\n+    act = 'gelu'\n"
HEADERS = "--- a/model.py\n+++ b/model.py\n"


def test_fenced_diff_with_prose() -> None:
    answer = (
        "The network is too narrow, so I widen it.\n\n```diff\n"
        + HEADERS
        + HUNK_1
        + "```\n\nThis doubles the width of every layer.\n"
    )
    assert extract_diff(answer) == HEADERS + HUNK_1


def test_two_blocks_are_joined_in_order() -> None:
    answer = (
        "First:\n```diff\n" + HEADERS + HUNK_1 + "```\nThen the activation:\n"
        "```patch\n" + HUNK_2 + "```\nDone."
    )
    diff = extract_diff(answer)
    assert diff == HEADERS + HUNK_1 + HUNK_2
    r = apply_diff(PARENT, diff)
    assert r.ok and r.code is not None
    assert "width = 32" in r.code and "'gelu'" in r.code


def test_unlabelled_fence_holding_a_diff() -> None:
    answer = "Here you go:\n```\n" + HEADERS + HUNK_1 + "```"
    assert extract_diff(answer) == HEADERS + HUNK_1


def test_python_block_is_not_a_diff() -> None:
    answer = "I rewrote it:\n```python\nclass Net:\n    width = 32\n```\n"
    assert extract_diff(answer) is None


def test_no_diff_at_all() -> None:
    assert extract_diff("I am not sure what to change; the model looks fine.") is None
    assert extract_diff("") is None


def test_unfenced_diff_between_prose() -> None:
    answer = "Change:\n\n" + HEADERS + HUNK_1 + "\nThat should help accuracy.\n"
    assert extract_diff(answer) == HEADERS + HUNK_1


def test_crlf_answer() -> None:
    answer = ("```diff\n" + HEADERS + HUNK_1 + "```\n").replace("\n", "\r\n")
    assert extract_diff(answer) == HEADERS + HUNK_1


def test_truncated_answer_is_refused() -> None:
    cut = "```diff\n" + HEADERS + HUNK_2[: HUNK_2.index("+    act")]
    assert extract_diff(cut) is None


def test_missing_closing_fence_with_complete_hunk_is_kept() -> None:
    answer = "```diff\n" + HEADERS + HUNK_1
    assert extract_diff(answer) == HEADERS + HUNK_1


def test_prose_between_hunks_in_one_fence() -> None:
    answer = "```diff\n" + HEADERS + HUNK_1 + "\nAnd now the activation:\n\n" + HUNK_2 + "```\n"
    r = apply_diff(PARENT, extract_diff(answer) or "")
    assert r.ok and r.code is not None
    assert "width = 32" in r.code and "'gelu'" in r.code
    assert "activation" not in r.code
