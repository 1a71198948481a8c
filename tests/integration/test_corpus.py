"""Channel corpora: unique, valid, reproducible, resumable; records turn into prompt pairs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nasloop.agents.delta import apply_diff
from nasloop.agents.mutation import Mutation, apply_mutation
from nasloop.agents.mutation.api import confirm
from nasloop.corpus.build import CorpusError, CorpusOptions, build_corpus
from nasloop.corpus.records import CorpusRecord, prompt_pair, read_records
from nasloop.memory.novelty import structural_hash
from nasloop.tasks.image_classification.seeds import list_seeds

SEEDS = list_seeds()


def _check_corpus(out: Path, count: int, jobs: int) -> None:
    report = build_corpus(SEEDS["vgg_small"], "vgg_small.py", out, CorpusOptions(count, jobs=jobs))
    records = read_records(out)
    assert report.written == len(records) == count
    assert len({r.id for r in records}) == count
    assert len({structural_hash(r.code) for r in records}) == count
    assert {r.id for r in records} == {structural_hash(r.code) for r in records}
    parent = SEEDS["vgg_small"]
    assert structural_hash(parent) not in {r.id for r in records}
    for record in records:
        params, flops = confirm(record.code, (2, 1, 32, 32), 10)
        assert (params, flops) == (record.params, record.flops)
        assert "# Block 1: full resolution, 16 channels." in record.code  # comments survive
        assert record.diff.startswith("--- a/model.py\n+++ b/model.py\n")
        patched = apply_diff(parent, record.diff)
        assert patched.ok and patched.code == record.code
    # the mutation chains are real: replaying a few through the public API gives the code
    for record in records[:8]:
        code = parent
        for mutation in record.mutations:
            code = apply_mutation(code, mutation, in_shape=(2, 1, 32, 32))
        assert code == record.code, record.description


def test_forty_variants_unique_and_valid(tmp_path: Path) -> None:
    _check_corpus(tmp_path / "corpus.jsonl", 40, jobs=1)


@pytest.mark.slow  # about 40 s on a busy 2-core machine, most of it re-checking each variant
def test_two_hundred_variants_unique_and_valid(tmp_path: Path) -> None:
    _check_corpus(tmp_path / "corpus.jsonl", 200, jobs=2)


def test_resume_appends_only_what_is_missing(tmp_path: Path) -> None:
    seed = SEEDS["resnet_small"]
    straight = tmp_path / "straight.jsonl"
    build_corpus(seed, "resnet_small.py", straight, CorpusOptions(24))
    lines = straight.read_text().splitlines(keepends=True)
    assert len(lines) == 24

    resumed = tmp_path / "resumed.jsonl"
    resumed.write_text("".join(lines[:10]) + lines[10][:57])  # killed mid-write
    report = build_corpus(seed, "resnet_small.py", resumed, CorpusOptions(24, jobs=2))
    assert (report.existing, report.written) == (10, 14)
    assert resumed.read_text() == straight.read_text()  # same seed, same corpus

    again = build_corpus(seed, "resnet_small.py", resumed, CorpusOptions(24))
    assert again.written == 0 and resumed.read_text() == straight.read_text()
    more = build_corpus(seed, "resnet_small.py", resumed, CorpusOptions(30))
    assert more.written == 6 and len(read_records(resumed)) == 30


def test_a_corpus_of_another_model_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "corpus.jsonl"
    build_corpus(SEEDS["lenet"], "lenet.py", out, CorpusOptions(3))
    with pytest.raises(CorpusError, match="another model"):
        build_corpus(SEEDS["vgg_small"], "vgg_small.py", out, CorpusOptions(5))


def test_a_model_without_free_widths_is_refused(tmp_path: Path) -> None:
    fixed = SEEDS["lenet"].replace("x = torch.flatten(x, 1)", "x = x.view(-1, 576)")
    fixed = fixed.replace("F.relu(self.fc1(x))", "F.relu(self.fc1(x)).view(-1, 120)")
    fixed = fixed.replace("F.relu(self.fc2(x))", "F.relu(self.fc2(x)).view(-1, 84)")
    fixed = fixed.replace(
        "self.pool1(F.relu(self.conv1(x)))", "self.pool1(F.relu(self.conv1(x))).view(-1, 6, 16, 16)"
    )
    with pytest.raises(CorpusError, match="no channel width"):
        build_corpus(fixed, "fixed.py", tmp_path / "c.jsonl", CorpusOptions(3))


def test_prompt_pairs(tmp_path: Path) -> None:
    out = tmp_path / "corpus.jsonl"
    build_corpus(SEEDS["lenet"], "lenet.py", out, CorpusOptions(2))
    raw = json.loads(out.read_text().splitlines()[0])
    record = CorpusRecord.model_validate(raw)
    assert all(isinstance(m, Mutation) for m in record.mutations)
    diff_pair = prompt_pair(raw, "diff")
    code_pair = prompt_pair(record, "code")
    for pair in (diff_pair, code_pair):
        assert record.description in pair["prompt"]
        assert SEEDS["lenet"] in pair["prompt"]
    assert record.diff in diff_pair["answer"] and record.code in code_pair["answer"]


@pytest.mark.slow
def test_cli_with_evaluation(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from nasloop.commands.corpus_cmd import corpus_app

    out = tmp_path / "corpus.jsonl"
    args = ["channels", "--model", "lenet", "--count", "3", "--out", str(out), "--evaluate"]
    result = CliRunner().invoke(corpus_app, args)
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 3
    for record in records:
        assert record.failure is None, record.failure
        assert record.metrics is not None and 0.0 <= record.metrics["val_accuracy"] <= 1.0
    bad = CliRunner().invoke(corpus_app, ["channels", "--model", "nope", "--out", str(out)])
    assert bad.exit_code == 2 and "no such file" in bad.output
