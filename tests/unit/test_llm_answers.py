"""Reading realistic model answers: improver JSON, whole files, diffs (scripted texts)."""

import re

import pytest

from nasloop.agents.delta import make_diff
from nasloop.agents.llm.answers import TRUNCATED, parse_improver
from nasloop.agents.llm.answers import extract_code as extract_any
from nasloop.agents.llm.generator import read_delta as read_delta_with
from nasloop.agents.llm.generator import read_full as read_full_with
from nasloop.config import build_config
from nasloop.tasks.image_classification import NET
from nasloop.tasks.image_classification.seeds import seed_source
from nasloop.tasks.registry import build_task

EXTRACT = build_task(build_config({})).extract


def extract_code(text, cut_off=False):
    return extract_any(text, cut_off, defines=NET, what="class Net")


def read_full(text, parent, cut_off=False):
    return read_full_with(text, parent, EXTRACT, cut_off)


def read_delta(text, parent, cut_off=False):
    return read_delta_with(text, parent, EXTRACT, cut_off)


PARENT = seed_source("lenet")
CHILD = PARENT.replace(
    "self.conv2 = nn.Conv2d(6, 16, kernel_size=5)", "self.conv2 = nn.Conv2d(6, 32, kernel_size=5)"
).replace("self.fc1 = nn.Linear(16 * ", "self.fc1 = nn.Linear(32 * ")


def test_child_differs():
    assert CHILD != PARENT and CHILD.count("32") > PARENT.count("32")


# --- improver JSON -------------------------------------------------------------------


def test_json_wrapped_in_prose():
    text = (
        "Sure! Looking at the history, the {conv} layers are narrow.\n"
        'My proposal: {"problem": "conv2 has only 16 channels", '
        '"suggestion": "widen conv2 to 32 channels and fc1 to match", '
        '"expected_effect": "+1-2% val_accuracy"}\nHope this helps!'
    )
    ans = parse_improver(text)
    assert ans.problem == "conv2 has only 16 channels"
    assert ans.suggestion.startswith("widen conv2")
    assert ans.expected_effect == "+1-2% val_accuracy"


def test_json_in_fence_with_alias_key():
    text = '```json\n{"problem": "underfits", "modification": "add BatchNorm after conv1"}\n```'
    ans = parse_improver(text)
    assert ans.suggestion == "add BatchNorm after conv1" and ans.expected_effect == ""


def test_first_valid_object_wins():
    text = '{"note": 1} then {"problem": "slow", "suggestion": "use stride 2 in conv1"}'
    assert parse_improver(text).suggestion == "use stride 2 in conv1"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("I think you should add dropout.", "no JSON object"),
        ('{"problem": "x is bad"}', "'suggestion'"),
        ('{"problem": "too shallow", "suggestion": ""}', "'suggestion'"),
        ('{"problem": "cut off", "sugg', "no JSON object"),
    ],
)
def test_unusable_improver_answers(text, needle):
    with pytest.raises(ValueError, match=re.escape(needle)):
        parse_improver(text)


# --- whole files ---------------------------------------------------------------------


def test_full_file_in_fence_with_prose():
    text = f"Here is the widened model:\n\n```python\n{CHILD}```\n\nI widened conv2."
    got = read_full(text, PARENT)
    assert got.code == CHILD


def test_several_blocks_pick_the_last_net():
    snippet = "```python\nself.conv2 = nn.Conv2d(6, 32, kernel_size=5)\n```"
    old = f"```python\n{PARENT}```"
    text = f"Change this line:\n{snippet}\nOriginal:\n{old}\nFull new file:\n```py\n{CHILD}```"
    assert extract_code(text).code == CHILD


def test_unfenced_code_then_prose():
    text = f"{CHILD}\nThis doubles the channels of conv2."
    assert read_full(text, PARENT).code == CHILD


def test_no_code_at_all():
    got = read_full("I would add batch normalisation to every convolution.", PARENT)
    assert got.code is None and "no Python code" in (got.error or "")


def test_truncated_code_is_not_handed_on():
    cut = CHILD[: CHILD.index("x = self.pool1(F.relu(") + 20]  # stops inside a call
    got = read_full(f"```python\n{cut}", PARENT)
    assert got.code is None and got.error == TRUNCATED


def test_cut_off_answer_that_happens_to_parse_is_still_truncated():
    cut = CHILD[: CHILD.index("    def train_setup")]
    assert read_full(f"```python\n{cut}", PARENT).code is not None  # parses: looks complete
    got = read_full(f"```python\n{cut}", PARENT, cut_off=True)
    assert got.code is None and got.error == TRUNCATED


def test_unchanged_parent_is_unusable():
    got = read_full(f"```python\n{PARENT}```", PARENT)
    assert got.code is None and "unchanged" in (got.error or "")


# --- diffs ---------------------------------------------------------------------------


def _diff() -> str:
    return make_diff(PARENT, CHILD, "model.py")


def test_good_diff():
    got = read_delta(f"```diff\n{_diff()}```", PARENT)
    assert got.code == CHILD


def test_diff_with_wrong_line_numbers():
    wrong = re.sub(
        r"^@@ -(\d+)(,\d+)? \+(\d+)",
        lambda m: f"@@ -{int(m.group(1)) + 7}{m.group(2) or ''} +{int(m.group(3)) + 7}",
        _diff(),
        flags=re.MULTILINE,
    )
    assert wrong != _diff()
    assert read_delta(f"```diff\n{wrong}```", PARENT).code == CHILD


def test_diff_with_prose_and_no_fence():
    text = f"I widened conv2 and fixed fc1:\n\n{_diff()}\nThis should help accuracy."
    assert read_delta(text, PARENT).code == CHILD


def test_diff_that_does_not_apply():
    bad = (
        "--- a/model.py\n+++ b/model.py\n@@ -10,3 +10,3 @@\n"
        " class Encoder(nn.Module):\n-    depth = 3\n+    depth = 4\n     width = 8\n"
    )
    got = read_delta(f"```diff\n{bad}```", PARENT)
    assert got.code is None and "could not be applied" in (got.error or "")


def test_delta_answer_without_diff():
    got = read_delta("Add dropout after fc1.", PARENT)
    assert got.code is None and "no unified diff" in (got.error or "")


def test_delta_answer_with_whole_file_is_taken():
    assert read_delta(f"```python\n{CHILD}```", PARENT).code == CHILD
