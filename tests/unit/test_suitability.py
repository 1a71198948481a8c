"""Suitability items from real archives (written through the Archive API): labels against the
stored per-dataset metrics, the split by network, the rule and majority baselines, the answer
matcher, and the `nasloop suitability build|eval` commands."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasloop.cli import app
from nasloop.memory.archive import Archive
from nasloop.suitability.items import (
    VARIANTS,
    build_items,
    heldout_networks,
    networks_from_runs,
    read_items,
    split_of,
)
from nasloop.suitability.scoring import (
    accuracy_table,
    majority_baseline,
    match_answer,
    rule_baseline,
)
from nasloop.tasks.image_classification.multidata import metric_key

DATASETS = ("digits", "digits-inverted", "digits-16px")


def _code(i: int) -> str:
    return f"import torch\n\n\nclass Net(torch.nn.Module):\n    width = {i}\n"


def make_run(run: Path, accs: list[dict[str, float]], *, first: int = 0) -> Path:
    """A run whose candidate i (code `_code(first + i)`) reached accs[i] per dataset; plus
    one failed candidate and one scored on a single dataset, which make no items."""
    run.mkdir(parents=True)
    a = Archive(run / "archive.sqlite")
    step = 0
    for i, acc in enumerate(accs):
        cid = a.add_candidate(step, parent_id=None, origin="m", modification="m",
                              code=_code(first + i), diff=None, gen_s=0.0)
        metrics = {metric_key("val_accuracy", d): v for d, v in acc.items()}
        a.set_ok(cid, form="bare", score=sum(acc.values()) / len(acc), metrics=metrics,
                 eval_wall_s=1.0)
        step += 1
    failed = a.add_candidate(step, parent_id=None, origin="m", modification="m",
                             code=_code(10_000), diff=None, gen_s=0.0)
    a.set_failed(failed, "shape", "boom")
    single = a.add_candidate(step + 1, parent_id=None, origin="m", modification="m",
                             code=_code(10_001), diff=None, gen_s=0.0)
    a.set_ok(single, form="bare", score=0.9, metrics={"val_accuracy": 0.9}, eval_wall_s=1.0)
    a.close()
    return run


def random_accs(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{d: round(rng.uniform(0.1, 0.95), 4) for d in DATASETS} for _ in range(n)]


@pytest.fixture
def runs(tmp_path: Path) -> tuple[list[Path], list[dict[str, float]]]:
    accs = random_accs(40)
    accs[3] = {"digits": 0.5, "digits-inverted": 0.5, "digits-16px": 0.5}
    accs[4] = {"digits": 0.95, "digits-inverted": 0.95, "digits-16px": 0.95}  # the bests
    a = make_run(tmp_path / "a", accs[:25])
    b = make_run(tmp_path / "b", accs[25:], first=25)
    return [a, b], accs


def test_labels_agree_with_the_archive_metrics(runs) -> None:
    run_dirs, accs = runs
    nets = networks_from_runs(run_dirs)
    assert len(nets) == 40  # the failed and the single-dataset candidates make none
    best = {d: max(a[d] for a in accs) for d in DATASETS}
    for variant in VARIANTS:
        items = build_items(nets, variant)
        by_code = {n.network: n for n in nets}
        want = 0
        for acc in accs:
            norm = {d: acc[d] / best[d] for d in DATASETS}
            want += sum(abs(norm[x] - norm[y]) > 1e-9
                        for x, y in (("digits", "digits-inverted"), ("digits", "digits-16px"),
                                     ("digits-inverted", "digits-16px")))
        assert len(items) == want
        for it in items:
            i = int(by_code[it.network].code.split("width = ")[1])
            acc = accs[i]
            assert (it.accuracy_a, it.accuracy_b) == (acc[it.dataset_a], acc[it.dataset_b])
            norm_a, norm_b = acc[it.dataset_a] / best[it.dataset_a], \
                acc[it.dataset_b] / best[it.dataset_b]
            assert it.norm_a == pytest.approx(norm_a) and it.norm_b == pytest.approx(norm_b)
            assert it.label == (it.dataset_a if norm_a > norm_b else it.dataset_b)
            assert it.variant == variant
        # the first-listed dataset is the answer about half the time, not always
        first = sum(it.label == it.dataset_a for it in items) / len(items)
        assert 0.3 < first < 0.7


def test_prompt_variants_show_what_they_promise(runs) -> None:
    nets = networks_from_runs(runs[0])
    n = nets[0]
    items = {v: build_items([n, *nets[1:]], v)[0] for v in VARIANTS}
    for it in items.values():
        assert it.dataset_a in it.prompt and it.dataset_b in it.prompt
    assert f"{items['normalized'].norm_a:.4f}" in items["normalized"].prompt
    assert "class Net" not in items["normalized"].prompt
    for v in ("metadata", "code"):
        assert "class Net" in items[v].prompt
        assert f"{items[v].norm_a:.4f}" not in items[v].prompt
    meta = items["metadata"].prompt
    assert "1078 training images" in meta and "channel(s)" in meta and "classes" in meta
    assert "training images" not in items["code"].prompt


def test_no_network_is_in_both_the_train_and_the_heldout_split(runs) -> None:
    items = [it for v in VARIANTS for it in build_items(networks_from_runs(runs[0]), v)]
    train = {it.network for it in items if it.split == "train"}
    heldout = {it.network for it in items if it.split == "heldout"}
    assert train and heldout and not train & heldout
    assert all(it.split == split_of(it.network) for it in items)  # 40: the hash alone


@pytest.mark.parametrize("n", [2, 3, 5, 12])
def test_a_small_pool_still_has_both_splits(tmp_path: Path, n: int) -> None:
    nets = networks_from_runs([make_run(tmp_path / "r", random_accs(n, seed=n))])
    held = heldout_networks(nets)
    assert 1 <= len(held) < n
    items = build_items(nets, "code")
    assert {it.network for it in items if it.split == "heldout"} <= held
    assert not {it.network for it in items if it.split == "train"} & held


def test_the_rule_baseline_solves_the_normalised_prompt(runs) -> None:
    items = build_items(networks_from_runs(runs[0]), "normalized")
    train = [it for it in items if it.split == "train"]
    rule = rule_baseline(train)
    table = accuracy_table(items, [rule(it) for it in items])
    assert table["overall"]["accuracy"] == 1.0 and table["unanswered"] == 0
    majority = majority_baseline(train)
    got = accuracy_table(items, [majority(it) for it in items])["overall"]["accuracy"]
    assert 0.3 < got < 0.7  # the position of the answer is balanced


def test_the_rule_baseline_on_other_variants_picks_the_dataset_that_wins_more(
        tmp_path: Path) -> None:
    """Every network here does best (normalised) on digits-16px and worst on digits: the
    rule, fit on the train split, answers every code-only item right."""
    rng = random.Random(1)
    accs = []
    for _ in range(30):
        x = rng.uniform(0.3, 0.6)
        accs.append({"digits": x, "digits-inverted": x + 0.1, "digits-16px": x + 0.2})
    items = build_items(networks_from_runs([make_run(tmp_path / "r", accs)]), "code")
    train = [it for it in items if it.split == "train"]
    rule = rule_baseline(train)
    assert all(rule(it) == it.label for it in items)
    assert {it.label for it in items} == {"digits-inverted", "digits-16px"}


@pytest.mark.parametrize(("answer", "a", "b", "want"), [
    ("digits-inverted", "digits", "digits-inverted", "digits-inverted"),
    ("digits", "digits", "digits-inverted", "digits"),
    ("Digits_Inverted.", "digits", "digits-inverted", "digits-inverted"),
    ("**digits-16px**", "digits-16px", "digits", "digits-16px"),
    ("DIGITS RGB", "digits", "digits-rgb", "digits-rgb"),
    ("`digits`\n", "digits-rgb", "digits", "digits"),
    ("The answer is digits.", "digits", "digits-inverted", "digits"),
    ("Answer: digits-inverted", "digits", "digits-inverted", "digits-inverted"),
    ("Between digits-inverted and digits, the answer is digits", "digits-inverted", "digits",
     "digits"),
    ("It does better on digits-16px than on digits.", "digits", "digits-16px", "digits-16px"),
    ("The network suits the digits-parity dataset.", "digits", "digits-parity",
     "digits-parity"),
    ("I don't know.", "digits", "digits-inverted", None),
    ("", "digits", "digits-inverted", None),
    ("digit", "digits", "digits-inverted", None),
])
def test_the_answer_matcher_on_realistic_answers(answer, a, b, want) -> None:
    assert match_answer(answer, a, b) == want


def test_accuracy_table_per_dataset_and_variant(runs) -> None:
    nets = networks_from_runs(runs[0])
    items = build_items(nets, "normalized")[:6] + build_items(nets, "code")[:4]
    answers: list[str | None] = [it.label for it in items[:6]] + [None] * 4
    t = accuracy_table(items, answers)
    assert t["overall"] == {"n": 10, "accuracy": 0.6} and t["unanswered"] == 4
    assert t["per_variant"] == {"code": {"n": 4, "accuracy": 0.0},
                                "normalized": {"n": 6, "accuracy": 1.0}}
    for d, row in t["per_dataset"].items():
        involved = [i for i, it in enumerate(items) if d in (it.dataset_a, it.dataset_b)]
        assert row["n"] == len(involved)


def test_build_and_eval_commands(runs, tmp_path: Path) -> None:
    out = tmp_path / "items.jsonl"
    cli = CliRunner()
    args = ["suitability", "build", *map(str, runs[0]), "--out", str(out), "--json"]
    for v in VARIANTS:
        args += ["--prompt", v]
    res = cli.invoke(app, args)
    assert res.exit_code == 0, res.output
    counts = json.loads(res.output)
    items = read_items(out)
    assert counts["networks"] == 40 and counts["items"] == len(items)
    assert counts["train"] + counts["heldout"] == len(items) and counts["heldout"] > 0
    assert {it.variant for it in items} == set(VARIANTS)
    res = cli.invoke(app, ["suitability", "eval", str(out)])
    assert res.exit_code == 0, res.output
    table = json.loads(res.output)
    assert table["items"] == counts["heldout"]
    assert table["rule"]["per_variant"]["normalized"]["accuracy"] == 1.0
    assert set(table["majority"]["per_dataset"]) == set(DATASETS)


def test_bad_inputs_are_one_line_errors(runs, tmp_path: Path) -> None:
    cli = CliRunner()
    res = cli.invoke(app, ["suitability", "build", str(tmp_path / "nope"), "--prompt",
                           "code", "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "holds no run" in res.output
    res = cli.invoke(app, ["suitability", "build", str(runs[0][0]), "--prompt", "vibes",
                           "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "unknown prompt variant" in res.output
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    res = cli.invoke(app, ["suitability", "eval", str(bad)])
    assert res.exit_code == 2 and "cannot read items" in res.output
    res = cli.invoke(app, ["suitability", "train", str(bad), "--model", "openai:http://x",
                           "--out", str(tmp_path / "t")])
    assert res.exit_code == 2 and "hf:" in res.output


# --- [task] kind = "suitability": the loop grows the pool --------------------------------
def _task(**task):
    from nasloop.config import build_config
    from nasloop.tasks.registry import build_task

    return build_task(build_config({"task": {"kind": "suitability", **task},
                                    "data": {"datasets": list(DATASETS)}}))


def test_the_task_grows_the_pool_after_each_cycle(tmp_path: Path) -> None:
    from nasloop.tasks.suitability import ITEMS_FILE, META

    task = _task(variants=["normalized", "code"])
    assert task.objective.metric == "val_accuracy_mean"
    accs = random_accs(30, seed=2)
    run = make_run(tmp_path / "run", accs[:10])
    archive = Archive(run / "archive.sqlite")
    task.after_cycle(run, archive, 0)
    first = archive.get_meta(META)["suitability"]
    for i, acc in enumerate(accs[10:], 10):  # the next cycle trains 20 more networks
        cid = archive.add_candidate(100 + i, parent_id=None, origin="m", modification="m",
                                    code=_code(i), diff=None, gen_s=0.0)
        archive.set_ok(cid, form="bare", score=0.5, eval_wall_s=1.0,
                       metrics={metric_key("val_accuracy", d): v for d, v in acc.items()})
    task.after_cycle(run, archive, 5)
    pool = archive.get_meta(META)["suitability"]
    from nasloop.summary import summarize  # the run summary carries the pool

    summary = summarize(archive, status="finished", wall_s=1.0, stop_reason="budget")
    archive.close()
    assert summary["suitability"]["items"] == pool["items"]
    (run / "summary.json").write_text(json.dumps(summary))
    (title, html), = task.report_sections(run)
    assert 'id="suitability"' in html and f"{pool['items']} items from 30 networks" in html
    assert first["networks"] == 10 and pool["networks"] == 30
    assert [g["step"] for g in pool["growth"]] == [0, 5]
    assert pool["growth"][1]["items"] == pool["items"] > first["items"]
    items = read_items(run / ITEMS_FILE)
    assert len(items) == pool["items"] and {it.variant for it in items} == {"normalized",
                                                                            "code"}
    assert items == build_items(networks_from_runs([run]), "normalized") + build_items(
        networks_from_runs([run]), "code")
    assert pool["per_variant"]["normalized"]["rule"] == 1.0
    assert 0 <= pool["per_variant"]["code"]["majority"] <= 1


@pytest.mark.parametrize(("task", "data", "says"), [
    ({"kind": "suitability"}, {}, "2 or more datasets"),
    ({"kind": "suitability", "variants": ["vibes"]}, {"datasets": list(DATASETS)},
     "variants must be"),
])
def test_the_task_refuses_bad_settings(task, data, says) -> None:
    from nasloop.config import ConfigError, build_config
    from nasloop.tasks.registry import build_task

    with pytest.raises((ConfigError, ValueError), match=says):
        build_task(build_config({"task": task, "data": data}))


def test_a_models_answers_are_matched_and_scored(runs) -> None:
    """`suitability eval --model`: each item asked once; realistic answers matched."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from nasloop.agents.llm.backend import ChatBackend
    from nasloop.suitability.model import evaluate

    items = build_items(networks_from_runs(runs[0]), "code")[:4]
    answers = [f"Answer: **{items[0].label.upper()}**", f"{items[1].label}.",
               "no idea", items[3].dataset_a if items[3].label == items[3].dataset_b
               else items[3].dataset_b]
    backend = ChatBackend(name="fake", chat=FakeListChatModel(responses=answers),
                          max_new_tokens=16, context_window=None)
    got = evaluate(backend, items)
    assert got["overall"] == {"n": 4, "accuracy": 0.5} and got["unanswered"] == 1
    assert [e["answer"] for e in got["examples"]] == answers
    assert [e["matched"] for e in got["examples"]][:2] == [items[0].label, items[1].label]
