"""Transform corpora: sampling is unique and resumable, imports count every file, and
better-than pairs always answer with a strictly better, different transform."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nasloop.tasks.augmentation.corpus import TransformCorpusOptions, build_transform_corpus
from nasloop.tasks.augmentation.importer import import_transforms
from nasloop.tasks.augmentation.pairs import better_than, preference_pairs
from nasloop.tasks.augmentation.records import TransformRecord, read_transforms

NASLOOP = [sys.executable, "-m", "nasloop"]
GOOD = ("import torchvision.transforms as T\n\n\ndef transform(norm):\n"
        "    return T.Compose([T.RandomRotation({deg}), T.Resize((32, 32)), T.ToTensor(),"
        " T.Normalize(*norm)])\n")
RESULT = {"accuracy": 0.5, "batch": 64, "lr": 0.01, "momentum": 0.9, "uid": "x"}


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    code, res = tmp_path / "code", tmp_path / "results"
    code.mkdir()
    res.mkdir()
    for i in range(5):  # five good pairs
        (code / f"t{i}.py").write_text(GOOD.format(deg=i + 1))
        (res / f"t{i}.json").write_text(json.dumps({**RESULT, "accuracy": 0.1 * (i + 1)}))
    (code / "zdup.py").write_text(GOOD.format(deg=1) + "\n# a comment\n")  # same structure
    (res / "zdup.json").write_text(json.dumps(RESULT))
    (code / "broken.py").write_text("def transform(norm:\n")
    (res / "broken.json").write_text(json.dumps(RESULT))
    (code / "nocompose.py").write_text("def transform(norm):\n    return None\n")
    (res / "nocompose.json").write_text(json.dumps(RESULT))
    (code / "noending.py").write_text("import torchvision.transforms as T\n\n\ndef "
                                      "transform(norm):\n    return T.Compose([T.ToTensor()])\n")
    (res / "noending.json").write_text(json.dumps(RESULT))
    (code / "orphan.py").write_text(GOOD.format(deg=9))  # no result
    (res / "lonely.json").write_text(json.dumps(RESULT))  # no code
    (code / "badjson.py").write_text(GOOD.format(deg=10))
    (res / "badjson.json").write_text("{not json")
    (code / "noacc.py").write_text(GOOD.format(deg=11))
    (res / "noacc.json").write_text(json.dumps({"batch": 1, "lr": 0.1, "momentum": 0}))
    (code / "badacc.py").write_text(GOOD.format(deg=12))
    (res / "badacc.json").write_text(json.dumps({**RESULT, "accuracy": "high"}))
    return code, res


def test_import_of_a_synthetic_folder_counts_every_file(tmp_path: Path) -> None:
    code, res = _layout(tmp_path)
    records, report = import_transforms(code, res)
    assert report.imported == len(records) == 5
    assert dict(report.skipped) == {
        "duplicate code": 1, "code does not parse": 1,
        "transform returns no Compose([...])": 1,
        "Compose does not end in Resize, ToTensor, Normalize": 1,
        "code without a result file": 1, "result without a code file": 1,
        "result is not valid JSON": 1, "result lacks accuracy": 1,
        "result accuracy is not a number in [0, 1]": 1}
    assert sorted(r.accuracy for r in records) == [0.1, 0.2, 0.30000000000000004, 0.4, 0.5]
    assert all(r.origin.startswith("import:") and r.recorded["uid"] == "x" for r in records)
    out = tmp_path / "c.jsonl"
    proc = subprocess.run([*NASLOOP, "corpus", "import-transforms", str(code), "--results",
                           str(res), "--out", str(out), "--json"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["imported"] == 5 and sum(shown["skipped"].values()) == 9
    assert len(read_transforms(out)) == 5


def _rec(i: int, acc: float | None, code: str | None = None) -> TransformRecord:
    return TransformRecord(id=f"id{code or i}", code=code or f"x = {i}\n", origin="t",
                           accuracy=acc)


def test_better_than_pairs_always_improve_and_never_repeat_code() -> None:
    records = [_rec(i, acc) for i, acc in enumerate(
        [0.2, 0.5, 0.5, 0.31, 0.9, None, 0.45, 0.2, 0.7])]
    records.append(_rec(99, 0.95, code="x  =  4\n"))  # same structure as #4: one of them counts
    for margin in (0.0, 0.1):
        pairs = better_than(records, margin=margin, per_prompt=3, seed=1)
        assert pairs
        for low, high in pairs:
            assert high.accuracy > low.accuracy + margin
            assert high.code != low.code
        assert len({(a.code, b.code) for a, b in pairs}) == len(pairs)
    best = max(r.accuracy for r in records if r.accuracy is not None and r.code != "x  =  4\n")
    assert all(low.accuracy < 0.9 for low, _ in better_than(records))  # the best prompts none
    assert best == 0.9
    prefs = preference_pairs(records, margin=0.05)
    assert prefs and all(p["chosen_accuracy"] > p["rejected_accuracy"] + 0.05 and
                         p["chosen"] != p["rejected"] for p in prefs)


def test_the_catalogue_corpus_is_unique_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    first = build_transform_corpus(out, TransformCorpusOptions(count=20, ops=(1, 3)))
    assert first.written == 20
    records = read_transforms(out)
    assert len({r.id for r in records}) == 20
    assert all(1 <= len(r.steps) <= 3 for r in records)
    with out.open("a") as fh:
        fh.write('{"id": "torn')  # a kill mid-write
    again = build_transform_corpus(out, TransformCorpusOptions(count=30, ops=(1, 3)))
    assert (again.existing, again.written) == (20, 10)
    whole = read_transforms(out)
    assert [r.id for r in whole[:20]] == [r.id for r in records]
    fresh = tmp_path / "u.jsonl"
    build_transform_corpus(fresh, TransformCorpusOptions(count=30, ops=(1, 3)))
    assert [r.id for r in read_transforms(fresh)] == [r.id for r in whole]  # same seed


def test_transform_pairs_from_a_corpus_and_a_run(tmp_path: Path) -> None:
    from nasloop.memory.archive import Archive

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(_rec(i, acc).model_dump_json() + "\n"
                              for i, acc in enumerate([0.2, 0.6])))
    run = tmp_path / "run"
    run.mkdir()
    archive = Archive(run / "archive.sqlite")
    for step, acc in enumerate([0.4, 0.8, None]):
        cid = archive.add_candidate(step, parent_id=None, origin="heuristic",
                                    modification=None, code=f"y = {step}\n", diff=None,
                                    gen_s=0.0)
        if acc is not None:
            archive.set_ok(cid, form="transform", score=acc, metrics={"val_accuracy": acc},
                           eval_wall_s=0.1)
    archive.close()
    out = tmp_path / "pairs.jsonl"

    def pairs(*args: str) -> list[dict]:
        proc = subprocess.run([*NASLOOP, "corpus", "transform-pairs", *args, "--out", str(out)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return [json.loads(line) for line in out.read_text().splitlines()]

    both = pairs(str(corpus), "--run", str(run))  # 0.2 < 0.4 < 0.6 < 0.8: 3 pairs
    assert sorted(p["prompt_accuracy"] for p in both) == [0.2, 0.4, 0.6]
    assert all(p["answer_accuracy"] > p["prompt_accuracy"] for p in both)
    assert {p["answer_code"] for p in both} >= {"y = 1\n"}  # the run's best answers
    only_run = pairs("--run", str(run))
    assert [(p["prompt_code"], p["answer_code"]) for p in only_run] == [("y = 0\n", "y = 1\n")]
    bad = subprocess.run([*NASLOOP, "corpus", "transform-pairs", "--run", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no archive.sqlite" in bad.stderr
