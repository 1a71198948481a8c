"""User code plugged in by config: import paths, the strategy and improver plugins, and the
record of a run's agents that a resume must match."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_heuristic_no_waste import cand  # sibling test module

from nasloop.agents.factory import build_agents
from nasloop.agents.heuristic import HeuristicImprover
from nasloop.config import ConfigError, build_config
from nasloop.memory.archive import Archive, Candidate
from nasloop.plugins import class_path, load_class
from nasloop.runner import RunError, check_agents
from nasloop.strategy.custom import build_strategy, ordered_parents
from nasloop.tasks.base import Objective
from nasloop.tasks.registry import build_task

PLUGIN = '''
class Last:
    """Works from the newest trained candidate."""

    def parents(self, archive, step, seed):
        return [c.id for c in archive.candidates() if c.status == "ok"][::-1][:1]


class Improver:
    name = "mine"

    def __init__(self, task):
        self.task = task

    def improve(self, request):
        raise NotImplementedError


class NoParents:
    pass


class Silent:
    def __init__(self, task):
        pass


NOT_A_CLASS = 3
'''


@pytest.fixture()
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "myplug.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "myplug"
    sys.modules.pop("myplug", None)


def test_load_class_names_what_is_wrong(plugin: str) -> None:
    assert load_class(f"{plugin}:Last", "f").__name__ == "Last"
    for path, words in [("nope_no_module:X", "cannot import 'nope_no_module'"),
                        (f"{plugin}:Missing", "has no 'Missing'"),
                        (f"{plugin}:NOT_A_CLASS", "is not a class"),
                        ("no colon", "is not an import path")]:
        with pytest.raises(ConfigError, match=words) as err:
            load_class(path, "search.strategy")
        assert "\n" not in str(err.value) and "search.strategy" in str(err.value)


def test_strategy_is_a_builtin_or_an_import_path() -> None:
    assert build_config({"search": {"strategy": "pkg.mod:Cls"}}).search.strategy == "pkg.mod:Cls"
    with pytest.raises(ConfigError, match="search.strategy"):
        build_config({"search": {"strategy": "best-first"}})


def test_a_strategy_of_one_s_own_is_built_from_config(plugin: str) -> None:
    assert build_strategy(build_config({})) is None
    strategy = build_strategy(build_config({"search": {"strategy": f"{plugin}:Last"}}))
    assert type(strategy).__name__ == "Last"
    with pytest.raises(ConfigError, match="has no parents"):
        build_strategy(build_config({"search": {"strategy": f"{plugin}:NoParents"}}))
    with pytest.raises(ConfigError, match="cannot import"):
        build_strategy(build_config({"search": {"strategy": "absent_mod:Last"}}))


def _c(cid: int, score: float) -> Candidate:
    return cand(cid, [cid], score=score)


def test_a_custom_strategy_s_parents_come_first_then_the_rest_ranked() -> None:
    class Pick:
        def parents(self, archive: object, step: int, seed: int) -> list[int]:
            return [2, 99, 2, 0]  # 99 is not trained: skipped; 2 once

    trained = [_c(0, 0.1), _c(1, 0.9), _c(2, 0.5), _c(3, 0.7)]
    got = ordered_parents(Pick(), None, trained, Objective(), 5, 0)  # type: ignore[arg-type]
    assert [c.id for c in got] == [2, 0, 1, 3]


def test_an_improver_of_one_s_own_is_built_from_its_model_string(plugin: str) -> None:
    task = build_task(build_config({"agents": {"improver": f"python:{plugin}:Improver"}}))
    improver, generator = build_agents(task)
    assert class_path(improver) == f"{plugin}:Improver" and improver.task is task
    with pytest.raises(ConfigError, match="agents.improver"):
        build_agents(build_task(build_config({"agents": {"improver": "python:absent:X"}})))
    with pytest.raises(ConfigError, match=r"no improve\(\) method"):
        build_agents(build_task(build_config(
            {"agents": {"improver": f"python:{plugin}:Silent"}})))
    with pytest.raises(ConfigError, match="could not be built"):
        build_agents(build_task(build_config(
            {"agents": {"improver": f"python:{plugin}:NoParents"}})))


def test_a_resume_with_other_agents_is_refused_naming_the_recorded_one(
        tmp_path: Path, plugin: str) -> None:
    task = build_task(build_config({}))
    heuristic, generator = build_agents(task)
    mine = load_class(f"{plugin}:Improver", "x")(task)
    archive = Archive(tmp_path / "a.sqlite")
    check_agents(archive, mine, generator)  # the first session records its agents
    assert archive.get_meta("agents")["improver"] == f"{plugin}:Improver"
    check_agents(archive, mine, generator)  # the same: fine
    with pytest.raises(RunError, match=f"improver was {plugin}:Improver, not "
                       f"{class_path(heuristic)}") as err:
        check_agents(archive, heuristic, generator)
    assert "\n" not in str(err.value) and isinstance(heuristic, HeuristicImprover)
    archive.close()
