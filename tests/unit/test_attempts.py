"""What the improve node tells the improver from the whole archive, and how it falls back."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from nasloop.graph.nodes import LoopNodes
from nasloop.memory import attempts, novelty
from nasloop.memory.archive import Archive
from nasloop.tasks.base import Objective


def _add(a: Archive, step: int, code: str | None, parent: int | None = None,
         mod: str | None = None) -> int:
    return a.add_candidate(step, parent_id=parent, origin="x", modification=mod, code=code,
                           diff=None, gen_s=0.0)


def _checked(a: Archive, cid: int, code: str) -> None:
    a.set_checked(cid, "bare", novelty.structural_hash(code), b"")


def _archive(tmp_path: Any) -> tuple[Archive, dict[str, int]]:
    """#seed trained; #big over the cap; #broken fails the check; #nocode not generated;
    #dup a duplicate of #seed; #ok a trained child."""
    a = Archive(tmp_path / "archive.sqlite")
    ids = {"seed": _add(a, 0, "W = [1]\n", mod="seed:x")}
    _checked(a, ids["seed"], "W = [1]\n")
    a.set_ok(ids["seed"], form="bare", score=0.5, metrics={"params": 10.0}, eval_wall_s=1.0)
    ids["big"] = _add(a, 1, "W = [1, 9]\n", ids["seed"], "add(value=9)")
    _checked(a, ids["big"], "W = [1, 9]\n")
    a.set_failed(ids["big"], "params", "3000000 parameters > cap", metrics={"params": 3e6})
    ids["bigger"] = _add(a, 2, "W = [1, 9, 9]\n", ids["big"], "add(value=9)")
    _checked(a, ids["bigger"], "W = [1, 9, 9]\n")
    a.set_failed(ids["bigger"], "params", "5000000 parameters > cap", metrics={"params": 5e6})
    ids["broken"] = _add(a, 3, "W = [\n", ids["seed"], "inc(layer=0)")
    a.set_failed(ids["broken"], "syntax", "does not parse")
    ids["nocode"] = _add(a, 4, None, ids["seed"], "drop(layer=0)")
    a.set_failed(ids["nocode"], "generation", "no code")
    ids["dup"] = _add(a, 5, "W = [1]  # same\n", ids["big"], "drop(layer=1)")
    _checked(a, ids["dup"], "W = [1]  # same\n")
    a.set_duplicate(ids["dup"], ids["seed"], f"structurally identical to #{ids['seed']}")
    return a, ids


def test_tried_pairs_cover_every_attempt_from_a_parent(tmp_path: Any) -> None:
    a, ids = _archive(tmp_path)
    assert attempts.tried_pairs(a) == [
        (ids["seed"], "add(value=9)"), (ids["big"], "add(value=9)"),
        (ids["seed"], "inc(layer=0)"), (ids["seed"], "drop(layer=0)"),
        (ids["big"], "drop(layer=1)")]


def test_program_hashes_name_the_first_holder(tmp_path: Any) -> None:
    a, ids = _archive(tmp_path)
    found = attempts.program_hashes(a, {"c" * 32: 99})
    assert found[novelty.structural_hash("W = [1]\n")] == ids["seed"]  # not the duplicate
    assert found[novelty.structural_hash("W = [1, 9]\n")] == ids["big"]
    assert found["c" * 32] == 99


def test_over_cap_lists_valid_code_smallest_first(tmp_path: Any) -> None:
    a, ids = _archive(tmp_path)
    assert [c.id for c in attempts.over_cap(a)] == [ids["big"], ids["bigger"]]


def _nodes(a: Archive) -> LoopNodes:
    return LoopNodes(SimpleNamespace(archive=a, task=SimpleNamespace(objective=Objective())))  # type: ignore[arg-type]


def test_the_fallback_parent_always_has_valid_code(tmp_path: Any) -> None:
    a, ids = _archive(tmp_path)
    # nothing trained (the trained seed is left out): the newest valid one, never #nocode,
    # #broken or the duplicate
    got = _nodes(a)._fallback("no answer", [])
    assert got.parent_id == ids["bigger"]
    assert _nodes(a)._fallback("no answer", [a.get(ids["seed"])]).parent_id == ids["seed"]
    empty = Archive(tmp_path / "empty.sqlite")
    _add(empty, 0, None)
    try:
        _nodes(empty)._fallback("x", [])
    except RuntimeError as err:
        assert "no candidate so far has valid code" in str(err)
    else:
        raise AssertionError("a parent without valid code was picked")


def test_a_duplicate_s_triple_says_what_its_program_scored(tmp_path: Any) -> None:
    a, ids = _archive(tmp_path)
    nodes = _nodes(a)
    triple = nodes._triple(a.get(ids["dup"]), None)
    assert triple.failure_class == "duplicate"
    assert f"#{ids['seed']} reached val_accuracy 0.5000" in triple.outcome
