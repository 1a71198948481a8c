"""apply_diff: the per-hunk report is right for each kind of damage a model does to a diff."""

from __future__ import annotations

import re

from nasloop.agents.delta import apply_diff, make_diff

PARENT = """import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        # Block 1: full resolution.
        self.block1 = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        # Block 2: half resolution.
        self.block2 = nn.Sequential(
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.fc = nn.Linear(32 * 8 * 8, out_shape[0])

    def forward(self, x):
        x = self.block1(x)
        x = self.block2(x)
        x = torch.flatten(x, 1)
        return self.fc(x)

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"])
"""
# Two hunks: widen block 2 (and the classifier); switch the optimiser.
CHILD = (
    PARENT.replace("nn.Conv2d(16, 32,", "nn.Conv2d(16, 64,")
    .replace("32 * 8 * 8", "64 * 8 * 8")
    .replace("torch.optim.SGD(", "torch.optim.Adam(")
)
DIFF = make_diff(PARENT, CHILD)


def _statuses(result) -> list[str]:
    return [h.status for h in result.hunks]


def _hunks(diff: str) -> list[str]:
    """The ``@@`` sections of a diff, headers included."""
    return re.split(r"^(?=@@)", diff, flags=re.M)[1:]


def test_clean_diff_is_exact() -> None:
    r = apply_diff(PARENT, DIFF)
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["exact", "exact"]
    assert len(r.hunks) == 2


def test_wrong_line_numbers_give_offset() -> None:
    diff = re.sub(
        r"@@ -(\d+),(\d+) \+(\d+),(\d+) @@",
        lambda m: f"@@ -{int(m[1]) + 7},{m[2]} +{int(m[3]) + 7},{m[4]} @@",
        DIFF,
    )
    r = apply_diff(PARENT, diff)
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["offset", "offset"]
    assert [h.offset for h in r.hunks] == [-7, -7]


def test_bare_hunk_headers_without_file_headers() -> None:
    body = "".join(re.sub(r"^@@.*@@", "@@ ... @@", h) for h in _hunks(DIFF))
    r = apply_diff(PARENT, body)
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["offset", "offset"]
    assert "no line number" in r.hunks[0].detail


def test_wrong_counts_are_recounted() -> None:
    diff = re.sub(r"@@ -(\d+),\d+ \+(\d+),\d+ @@", r"@@ -\1,2 +\2,99 @@", DIFF)
    r = apply_diff(PARENT, diff)
    assert r.ok and r.code == CHILD


def test_indentation_drift_is_fuzzy_and_reindents_added_lines() -> None:
    drifted = "\n".join(
        ln[0] + ln[1:][4:] if ln[:1] in " +-" and ln[1:].startswith("    ") else ln
        for ln in DIFF.split("\n")
    )
    r = apply_diff(PARENT, drifted)
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["fuzzy", "fuzzy"]
    assert r.hunks[0].detail == "whitespace ignored; added lines re-indented by +4"


def test_context_without_prefix_space() -> None:
    dropped = "\n".join(ln[1:] if ln.startswith(" ") else ln for ln in DIFF.split("\n"))
    r = apply_diff(PARENT, dropped)
    assert r.ok and r.code == CHILD
    assert set(_statuses(r)) == {"fuzzy"}


def test_trailing_whitespace_is_fuzzy() -> None:
    noisy = "\n".join(ln + "  " if ln.startswith(" ") else ln for ln in DIFF.split("\n"))
    r = apply_diff(PARENT, noisy)
    assert r.ok and r.code == CHILD
    assert r.hunks[0].status == "fuzzy"
    assert r.hunks[0].detail == "trailing whitespace ignored"


def test_crlf_diff_and_crlf_file() -> None:
    r = apply_diff(PARENT, DIFF.replace("\n", "\r\n"))
    assert r.ok and r.code == CHILD and _statuses(r) == ["exact", "exact"]
    r = apply_diff(PARENT.replace("\n", "\r\n"), DIFF)
    assert r.ok and r.code == CHILD.replace("\n", "\r\n")


def test_hunks_out_of_order() -> None:
    first, second = _hunks(DIFF)
    r = apply_diff(PARENT, "--- a/model.py\n+++ b/model.py\n" + second + first)
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["exact", "exact"]


def test_dropped_and_hallucinated_context_are_fuzzy() -> None:
    diff = """--- a/model.py
+++ b/model.py
@@ -24,6 +24,7 @@
         x = self.block2(x)
         # ... existing code ...
         x = torch.flatten(x, 1)
+        x = nn.functional.dropout(x, 0.1, self.training)
         return self.fc(x)
"""
    r = apply_diff(PARENT, diff)
    assert r.ok
    flat = "        x = torch.flatten(x, 1)\n"
    drop = "        x = nn.functional.dropout(x, 0.1, self.training)\n"
    assert r.code == PARENT.replace(flat, flat + drop)
    assert r.hunks[0].status == "fuzzy"
    assert "1 context line(s) of the diff not in the file" in r.hunks[0].detail


def test_file_line_missing_from_context_is_fuzzy() -> None:
    diff = """@@ -22,6 +22,6 @@
     def forward(self, x):
         x = self.block1(x)
         x = torch.flatten(x, 1)
-        return self.fc(x)
+        return self.fc(x).log_softmax(-1)
"""
    r = apply_diff(PARENT, diff)
    assert r.ok
    assert r.code == PARENT.replace("return self.fc(x)", "return self.fc(x).log_softmax(-1)")
    assert "1 file line(s) missing" in r.hunks[0].detail


def test_ambiguous_target_fails_with_reason() -> None:
    # Both blocks end with these lines: without a line number nothing says which one.
    diff = """@@
             nn.ReLU(inplace=True),
-            nn.MaxPool2d(2),
+            nn.AvgPool2d(2),
         )
"""
    r = apply_diff(PARENT, diff)
    assert not r.ok
    assert r.hunks[0].status == "failed"
    assert "several places" in r.hunks[0].detail
    assert r.code == PARENT


def test_header_line_number_breaks_a_tie_only_when_it_points_at_one_match() -> None:
    hunk = """
             nn.ReLU(inplace=True),
-            nn.MaxPool2d(2),
+            nn.AvgPool2d(2),
         )
"""
    r = apply_diff(PARENT, "@@ -18,3 +18,3 @@" + hunk)
    assert r.ok and r.hunks[0].status == "exact"
    assert "2 equal matches; took the one at the header's line" in r.hunks[0].detail
    assert r.code == PARENT.replace(
        "            nn.ReLU(inplace=True),\n            nn.MaxPool2d(2),\n        )\n"
        "        self.fc",
        "            nn.ReLU(inplace=True),\n            nn.AvgPool2d(2),\n        )\n"
        "        self.fc",
    )
    far = apply_diff(PARENT, "@@ -100,3 +100,3 @@" + hunk)
    assert not far.ok and far.hunks[0].status == "failed"


def test_absent_target_fails() -> None:
    diff = (
        "@@ -3,2 +3,2 @@\n class Net(nn.Module):\n"
        "-    def predict(self, x):\n+    def infer(self, x):\n"
    )
    r = apply_diff(PARENT, diff)
    assert not r.ok
    assert r.hunks[0].status == "failed"
    assert "not in the file" in r.hunks[0].detail


def test_insertion_next_to_an_unshown_line_is_refused() -> None:
    # The file has `x = self.block2(x)` between these two lines: the added line could go
    # on either side of it.
    diff = """@@ -23,2 +23,3 @@
         x = self.block1(x)
+        x = x * 2
         x = torch.flatten(x, 1)
"""
    r = apply_diff(PARENT, diff)
    assert not r.ok
    assert "ambiguous" in r.hunks[0].detail


def test_one_failed_hunk_keeps_the_others_reported() -> None:
    first, _ = _hunks(DIFF)
    bad = "@@ -40,1 +40,1 @@\n-    def missing(self):\n+    def found(self):\n"
    r = apply_diff(PARENT, "--- a/model.py\n+++ b/model.py\n" + first + bad)
    assert not r.ok
    assert _statuses(r) == ["exact", "failed"]
    assert r.code is not None and "nn.Conv2d(16, 64," in r.code


def test_overlapping_hunks_fail() -> None:
    first, _ = _hunks(DIFF)
    r = apply_diff(PARENT, "--- a/model.py\n+++ b/model.py\n" + first + first)
    assert _statuses(r) == ["exact", "failed"]
    assert "overlaps" in r.hunks[1].detail


def test_several_files_pick_the_model() -> None:
    readme = "--- a/README.md\n+++ b/README.md\n@@ -1,1 +1,1 @@\n-# Net\n+# Wider net\n"
    train = "--- a/train.py\n+++ b/train.py\n@@ -1,1 +1,1 @@\n-epochs = 1\n+epochs = 2\n"
    r = apply_diff(PARENT, readme + DIFF + train, path="model.py")
    assert r.ok and r.code == CHILD
    # Without a path: the only Python file is taken, whatever the model called it;
    # with two Python files and no path, nothing says which one is the model.
    r = apply_diff(PARENT, readme + DIFF.replace("model.py", "net.py"))
    assert r.ok and r.code == CHILD
    r = apply_diff(PARENT, DIFF + train)
    assert not r.ok and "cannot tell" in r.hunks[0].detail


def test_no_diff_is_not_ok() -> None:
    r = apply_diff(PARENT, "I could not find anything to change.")
    assert not r.ok and r.code is None
    assert r.hunks[0].index == -1 and r.hunks[0].status == "failed"


def test_no_newline_markers_are_obeyed() -> None:
    child = PARENT.rstrip("\n")
    r = apply_diff(PARENT, make_diff(PARENT, child))
    assert r.ok and r.code == child


def test_offset_shared_by_other_hunks_breaks_a_tie() -> None:
    # Every header is 10 lines off; the optimiser hunk is unique, so the pool hunk (which
    # fits both blocks) goes where the same offset puts it: block 2.
    optim = (
        "@@ -41,2 +41,2 @@\n"
        "         self.criteria = (nn.CrossEntropyLoss().to(self.device),)\n"
        '-        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"])\n'
        '+        self.optimizer = torch.optim.Adam(self.parameters(), lr=prm["lr"])\n'
    )
    pool = (
        "@@ -28,3 +28,3 @@\n"
        "             nn.ReLU(inplace=True),\n"
        "-            nn.MaxPool2d(2),\n"
        "+            nn.AvgPool2d(2),\n"
        "         )\n"
    )
    r = apply_diff(PARENT, optim + pool)
    assert r.ok and r.code is not None
    assert r.code.count("AvgPool2d") == 1
    assert r.code.index("AvgPool2d") > r.code.index("Block 2")
    assert [h.offset for h in r.hunks] == [-10, -10]
    assert "offset the other hunks have" in r.hunks[1].detail


def test_git_preamble_and_section_headings() -> None:
    body = "".join(
        re.sub(r"^(@@ [^@]* @@)", r"\1 class Net(nn.Module):", h, count=1) for h in _hunks(DIFF)
    )
    git = "diff --git a/src/model.py b/src/model.py\nindex 83db48f..bf269f4 100644\n"
    headers = "--- a/src/model.py\n+++ b/src/model.py\n"
    r = apply_diff(PARENT, git + headers + body, path="model.py")
    assert r.ok and r.code == CHILD
    assert _statuses(r) == ["exact", "exact"]
