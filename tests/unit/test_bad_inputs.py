"""Nothing a candidate returns and no bad input stops a run: poison-pill results are
recorded as the candidate's failure, damaged run files stop `resume` with one line, and
out-of-range settings are refused by the config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nasloop.config import ConfigError, build_config, load_config
from nasloop.display import candidate_line
from nasloop.graph.evaluate import store_result
from nasloop.memory.archive import Archive
from nasloop.rundir import RunDir
from nasloop.runner import RunError, resume_config
from nasloop.sandbox.job import EvalResult
from nasloop.tasks.base import Objective


def _archive(tmp_path: Path) -> tuple[Archive, int]:
    a = Archive(tmp_path / "a.sqlite")
    cid = a.add_candidate(0, parent_id=None, origin="seed:x", modification=None, code="x",
                          diff=None, gen_s=0.0)
    return a, cid


@pytest.mark.parametrize("metrics, why", [
    ({}, "has no val_accuracy"),
    ({"val_accuracy": math.nan}, "is nan"),
    ({"val_accuracy": math.inf}, "is inf"),
    ({"val_accuracy": 7.5}, "outside [0, 1]"),
    ({"val_accuracy": 0.5, "params": math.nan}, "params is nan"),
    ({"val_accuracy": 0.5, "params": -3.0}, "params is -3"),
])
def test_unbelievable_ok_results_are_bad_results(tmp_path, metrics, why):
    a, cid = _archive(tmp_path)
    store_result(a, Objective(), cid, EvalResult(candidate_id=cid, status="ok", metrics=metrics),
                 1.0)
    c = a.get(cid)
    assert (c.status, c.failure_class, c.score) == ("failed", "bad-result", None)
    assert why in c.failure_message


def test_hostile_failure_text_is_stored_neutralised_and_printed_safely(tmp_path):
    a, cid = _archive(tmp_path)
    msg = "[/] [bold red]boom\x1b[2J\x00" + "x" * 10_000 + "\udcff"
    store_result(a, Objective(), cid, EvalResult(candidate_id=cid, status="failed",
                                                 failure_class="made-up", message=msg,
                                                 metrics={"params": math.nan}), 1.0)
    c = a.get(cid)
    assert c.failure_class == "bad-result" and len(c.failure_message) <= 500
    assert "\x1b" not in c.failure_message and "\x00" not in c.failure_message
    from rich.console import Console

    console = Console(record=True, width=200)
    console.print(candidate_line(c, 0, 1, False, Objective()))  # must not raise on "[/]"
    assert "[/]" in console.export_text()


def test_a_damaged_or_empty_archive_stops_resume(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / RunDir.CONFIG).write_text("{}")
    for content in (b"", b"not a database" * 100):
        (run / RunDir.ARCHIVE).write_bytes(content)
        with pytest.raises(RunError) as err:
            resume_config(run, {})
        assert "left as it is" in str(err.value) and "\n" not in str(err.value)
        assert (run / RunDir.ARCHIVE).read_bytes() == content


@pytest.mark.parametrize("tree, field", [
    ({"memory": {"k": 10**12}}, "memory.k"),
    ({"run": {"budget": 10**9}}, "run.budget"),
    ({"run": {"seed": -1}}, "run.seed"),
    ({"sandbox": {"limits": {"threads": 10_000}}}, "sandbox.limits.threads"),
    ({"train": {"lr": 1e9}}, "train.lr"),
])
def test_out_of_range_settings_are_refused(tree, field):
    with pytest.raises(ConfigError, match=field):
        build_config(tree)


def test_a_config_with_a_byte_order_mark_loads(tmp_path):
    p = tmp_path / "s.toml"
    p.write_bytes(b"\xef\xbb\xbf[run]\nbudget = 4\n")
    assert load_config(p).run.budget == 4


@pytest.mark.parametrize("content, needle", [
    (None, "not found"),
    ("dir", "is a directory"),
    (b"\x00\x01binary", "is binary"),
    (b"", "is empty"),
    (b"class Net(:\n", "does not parse"),
])
def test_a_bad_seed_file_stops_run_before_its_directory_exists(tmp_path, content, needle):
    """`nasloop run` with a bad seed file: one line naming seeds.files, exit 2, and no
    half-made run directory."""
    from typer.testing import CliRunner

    from nasloop.cli import app

    seed = tmp_path / "seed.py"
    if content == "dir":
        seed.mkdir()
    elif content is not None:
        seed.write_bytes(content)
    config = tmp_path / "search.toml"
    config.write_text(f"[seeds]\nfiles = [{str(seed)!r}]\n", encoding="utf-8")
    out = tmp_path / "run"
    res = CliRunner().invoke(app, ["run", "--config", str(config), "--out", str(out)])
    assert res.exit_code == 2
    [line] = res.output.strip().splitlines()
    assert "seeds.files" in line and needle in line
    assert not out.exists()
