"""The task seam: registry, `[task]` config, objectives, the image-classification task's
orchestrator side, and the config changes that came with it (per-role agents, limits)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from nasloop.config import ConfigError, build_config
from nasloop.memory.archive import Archive
from nasloop.sandbox.failures import ContractError
from nasloop.tasks.base import Objective
from nasloop.tasks.image_classification import ImageClassificationTask
from nasloop.tasks.registry import KINDS, build_task, task_class
from nasloop.tasks.seedfiles import read_seed_file


def test_default_task_is_image_classification():
    task = build_task(build_config({}))
    assert isinstance(task, ImageClassificationTask)
    assert task.kind in KINDS and task_class(task.kind) is ImageClassificationTask
    brief = task.brief()
    assert brief.line == ("image classification on digits: inputs (1, 32, 32), 10 classes; "
                          "metric: val_accuracy after 1 epoch(s)")
    assert "(32, 1, 32, 32)" in brief.contract and "2000000 parameters" in brief.contract
    assert brief.objective == Objective(metric="val_accuracy", direction="max")
    assert "widen" in brief.operators


@pytest.mark.parametrize("tree, needle", [
    ({"task": {"kind": "nope"}}, "unknown task kind 'nope'"),
    ({"task": {"kind": "image-classification", "colour": 1}}, "unknown key 'task.colour'"),
    ({"data": {"dataset": "no-such-data"}}, None),  # a dataset is checked by the task
])
def test_task_config_errors_are_one_line(tree, needle):
    if needle is None:
        with pytest.raises(ConfigError, match="data.dataset") as err:
            build_task(build_config(tree)).brief()
    else:
        with pytest.raises(ConfigError) as err:
            build_config(tree)
        assert needle in str(err.value)
    assert "\n" not in str(err.value) and str(err.value).startswith("bad config:")


def test_moved_limit_keys_still_load_and_land_in_their_table():
    cfg = build_config({"train": {"time_limit_s": 30, "threads": 2}},
                       {"train.memory_limit_mb": 1024})
    assert (cfg.sandbox.limits.time_s, cfg.sandbox.limits.threads,
            cfg.sandbox.limits.memory_mb) == (30, 2, 1024)
    again = build_config(cfg.model_dump())  # config.json round trip
    assert again == cfg


def test_per_role_agent_settings_with_flat_fallback():
    cfg = build_config({"agents": {
        "temperature": 0.2, "max_new_tokens": 512,
        "generator": {"model": "hf:/m", "temperature": 0.8},
        "improver": "heuristic",
    }}, {"agents.generator": "hf:/other"})  # a CLI model string keeps the role's table
    a = cfg.agents
    assert a.model_of("generator") == "hf:/other" and a.model_of("improver") == "heuristic"
    gen, imp = a.for_role("generator"), a.for_role("improver")
    assert (gen.temperature, gen.max_new_tokens) == (0.8, 512)
    assert (imp.temperature, imp.max_new_tokens) == (0.2, 512)
    with pytest.raises(ConfigError, match="agents.generator.temperature"):
        build_config({"agents": {"generator": {"model": "heuristic", "temperature": 9}}})


def test_objective_directions():
    acc, lat = Objective(), Objective(metric="latency_ms", direction="min")
    assert acc.better(0.9, 0.8) and not acc.better(0.8, 0.9) and acc.better(0.1, None)
    assert lat.better(3.0, 4.0) and lat.gain(3.0, 4.0) == 1.0
    assert sorted([0.2, None, 0.9], key=acc.sort_key) == [0.9, 0.2, None]
    assert sorted([5.0, 1.0], key=lat.sort_key) == [1.0, 5.0]


def test_archive_ranks_by_the_objective_direction(tmp_path: Path):
    for direction, best in (("max", 0.9), ("min", 0.1)):
        a = Archive(tmp_path / f"{direction}.sqlite", direction)
        for step, score in enumerate((0.5, 0.9, 0.1)):
            cid = a.add_candidate(step, parent_id=None, origin="seed:x", modification=None,
                                  code="x", diff=None, gen_s=0.0)
            a.set_ok(cid, form="bare", score=score, metrics={"m": score}, eval_wall_s=1.0)
        assert a.best().score == best
        a.close()


def test_an_archive_from_before_the_seam_is_migrated(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE candidates (id INTEGER PRIMARY KEY, step INTEGER NOT NULL UNIQUE,
          parent_id INTEGER, origin TEXT NOT NULL, modification TEXT, code TEXT, diff TEXT,
          status TEXT NOT NULL, form TEXT, structural_hash TEXT, minhash BLOB,
          duplicate_of INTEGER, val_accuracy REAL, params INTEGER, flops REAL, metrics TEXT,
          failure_class TEXT, failure_message TEXT, traceback_tail TEXT, log_tail TEXT,
          gen_s REAL, eval_wall_s REAL, train_s REAL,
          eval_attempts INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,
          finished_at REAL);
        INSERT INTO candidates(step, origin, status, val_accuracy, created_at)
          VALUES (0, 'seed:a', 'ok', 0.25, 0), (1, 'seed:b', 'ok', 0.75, 0);
    """)
    db.commit()
    db.close()
    a = Archive(path)
    assert [c.score for c in a.candidates()] == [0.25, 0.75] and a.best().step == 1
    a.close()


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    ("dir", "is a directory"),
    (b"\x00\x01binary", "is binary"),
    (b"", "is empty"),
    (b"\xff\xfe bad", "not UTF-8"),
    (b"class Net(:\n", "does not parse"),
])
def test_bad_seed_files_are_one_line_config_errors(tmp_path: Path, content, needle):
    path = tmp_path / "seed.py"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match="seeds.files") as err:
        read_seed_file(path)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_seed_file_with_a_byte_order_mark_is_accepted(tmp_path: Path):
    path = tmp_path / "bom_net.py"
    path.write_bytes(b"\xef\xbb\xbfimport torch\nclass Net(torch.nn.Module):\n    pass\n")
    name, code = read_seed_file(path)
    assert name == "bom_net" and code.startswith("import torch")


def test_task_check_and_extract():
    task = build_task(build_config({}))
    with pytest.raises(ContractError):
        task.check("def transform():\n    pass\n")
    code, err = task.extract("Here:\n```python\nimport torch\nclass Net(torch.nn.Module):\n"
                             "    def forward(self, x):\n        return x\n```\n")
    assert err is None and code.startswith("import torch")
    code, err = task.extract("no code at all")
    assert code is None and "class Net" in err


def test_contract_override_is_the_tasks_template(tmp_path: Path):
    p = tmp_path / "contract.txt"
    p.write_text("Return logits for ${num_classes} classes.")
    task = build_task(build_config({"agents": {"prompts": {"contract": str(p)}}}))
    assert task.brief().contract == "Return logits for 10 classes."
    p.write_text("uses ${nothing_known}")
    with pytest.raises(ConfigError, match="unknown placeholder"):
        build_task(build_config({"agents": {"prompts": {"contract": str(p)}}})).brief()


def test_task_job_carries_the_runner_and_the_run_settings():
    cfg = build_config({"train": {"epochs": 3, "lr": 0.05}, "run": {"seed": 4},
                        "sandbox": {"limits": {"time_s": 9}}})
    job = build_task(cfg).job(7, "code")
    assert job.runner == ImageClassificationTask.runner and job.candidate_id == 7
    assert (job.seed, job.time_limit_s, job.params["epochs"], job.params["lr"]) == (4, 9, 3, 0.05)
    assert job.data["dataset"] == "digits"
    assert build_task(cfg).job(7, "code", seed=11).seed == 11


def test_every_way_of_naming_an_image_folder_hides_it(tmp_path: Path, monkeypatch):
    """The folder's class sub-folders are its labels: hidden from the sandbox whether it is
    named `imagefolder:PATH`, a plain directory, or relatively; so is a relative data_dir."""
    from nasloop.tasks.image_classification.jobs import eval_job
    from nasloop.tasks.image_classification.runner import ImageClassificationRunner

    folder = tmp_path / "flowers"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    for name in (f"imagefolder:{folder}", str(folder), "flowers", "imagefolder:flowers"):
        hidden = ImageClassificationRunner.hidden_paths(eval_job("x", dataset=name))
        assert str(folder) in hidden, name
    hidden = ImageClassificationRunner.hidden_paths(eval_job("x", data_dir="data"))
    assert str(tmp_path / "data") in hidden
    assert all(Path(p).is_absolute() for p in hidden)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_tasks_runner_scores_on_the_trusted_side(kind: str):
    """Issue 16 for every task: its runner prepares the data in two halves, hides the
    labels' copies and scores the returned outputs itself (a runner without `score` would
    have its candidate's own metrics believed)."""
    from nasloop.sandbox.executor import runner_class

    cls = runner_class(task_class(kind).runner)
    for member in ("prepare", "read_paths", "hidden_paths", "score", "preload", "run"):
        assert callable(getattr(cls, member, None)), (kind, member)
