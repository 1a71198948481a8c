"""The heuristic improver wastes no step: one rule per test, on a toy mutation space.

The toy "model" is a list literal `W = [...]`; `add` appends a value (it grows the model),
`drop` removes an element (it shrinks it) and `inc` raises one by 1.
"""

from __future__ import annotations

import ast

import pytest

from nasloop.agents.base import ImproveRequest, Instruction
from nasloop.agents.heuristic import MAX_APPLIES, HeuristicImprover, rank_parents
from nasloop.agents.mutation import Mutation, MutationError
from nasloop.graph.batch import improve_all
from nasloop.memory import novelty
from nasloop.memory.archive import Candidate
from nasloop.tasks.base import Objective, TaskBrief


def _values(code: str) -> list[int]:
    return list(ast.literal_eval(code.split("=", 1)[1].strip()))


def code_of(values: list[int]) -> str:
    return f"W = {values!r}\n"


class ListSpace:
    shrinking = frozenset({"drop"})

    def __init__(self) -> None:
        self.applied: list[tuple[str, str]] = []

    def operators(self) -> dict[str, str]:
        return {"add": "append 7", "drop": "remove one", "inc": "add 1 to one"}

    def propose(self, code: str) -> list[Mutation]:
        w = _values(code)
        found = [Mutation(op="add", args={"value": 7})]
        found += [Mutation(op="drop", layer=str(i)) for i in range(len(w)) if len(w) > 1]
        found += [Mutation(op="inc", layer=str(i)) for i in range(len(w))]
        return found

    def apply(self, code: str, mutation: Mutation) -> str:
        self.applied.append((code, mutation.describe()))
        w = _values(code)
        if mutation.op == "add":
            return code_of([*w, int(mutation.args["value"])])
        i = int(mutation.layer or 0)
        if mutation.op == "drop":
            return code_of(w[:i] + w[i + 1:])
        if mutation.op == "inc":
            return code_of(w[:i] + [w[i] + 1] + w[i + 1:])
        raise MutationError(f"unknown {mutation.op}")


def cand(cid: int, values: list[int] | None, score: float | None = 0.5, status: str = "ok",
         failure: str | None = None, params: int | None = None,
         parent: int | None = None) -> Candidate:
    return Candidate(
        id=cid, step=cid, parent_id=parent, origin="seed:x" if parent is None else "heuristic",
        modification=None, code=code_of(values) if values is not None else None, diff=None,
        status=status, form="bare" if values is not None else None, structural_hash=None,
        duplicate_of=None, score=score, params=params, flops=None, metrics=None,
        failure_class=failure, failure_message=None, traceback_tail=None, gen_s=0.0,
        eval_wall_s=1.0, train_s=1.0, eval_attempts=1)


def brief() -> TaskBrief:
    from nasloop.config import build_config
    from nasloop.tasks.registry import build_task

    return build_task(build_config({})).brief()


def request(step: int = 9, **kw: object) -> ImproveRequest:
    base: dict[str, object] = {"step": step, "seed": 0, "task": brief(), "triples": [],
                               "last": None, "parents": []}
    return ImproveRequest(**{**base, **kw})


def improver(space: ListSpace | None = None, explore: float = 0.0) -> HeuristicImprover:
    return HeuristicImprover(space or ListSpace(), explore=explore)


def hashes(*programs: tuple[list[int], int]) -> dict[str, int]:
    found = {}
    for values, cid in programs:
        found[novelty.structural_hash(code_of(values))] = cid
        found[novelty.canonical_hash(code_of(values))] = cid
    return found


def test_never_reproposes_a_tried_pair() -> None:
    parent = cand(1, [1, 2])
    options = {m.describe() for m in ListSpace().propose(parent.code or "")}
    tried = sorted(options - {"inc(layer=1)"})
    for step in range(10):
        got = improver().improve(request(step, parents=[parent],
                                         tried=[(1, d) for d in tried]))
        assert got.instruction is not None
        assert got.instruction.modification == "inc(layer=1)"
    # a pair tried on another parent does not count for this one
    other = [(2, d) for d in options]
    seen = {improver().improve(request(s, parents=[parent], tried=other)).instruction
            .modification for s in range(30)}  # type: ignore[union-attr]
    assert len(seen) > 1


def test_when_the_best_is_exhausted_the_next_parent_is_mutated() -> None:
    best, second = cand(1, [1, 2], 0.9), cand(2, [3], 0.8)
    tried = [(1, m.describe()) for m in ListSpace().propose(best.code or "")]
    got = improver().improve(request(parents=[best, second], tried=tried))
    assert got.instruction is not None and got.instruction.parent_id == 2
    none = improver().improve(request(parents=[best], tried=tried))
    assert none.instruction is None and "every mutation of #1 was tried" in (none.error or "")


def test_never_reproduces_a_program_the_archive_holds() -> None:
    """#2 = #1 plus a 7: dropping the 7 again (undoing the parent's last edit) would give
    #1's program back, so it is skipped; so is any other route to a known program."""
    parent = cand(2, [1, 2, 7], parent=1)
    programs = hashes(([1, 2], 1), ([1, 2, 7], 2), ([2, 2, 7], 5))
    tried = [(2, d) for d in ("add(value=7)", "drop(layer=0)", "drop(layer=1)",
                              "inc(layer=1)", "inc(layer=2)")]
    # left: drop(layer=2) (gives #1) and inc(layer=0) (gives #5), then nothing
    got = improver().improve(request(parents=[parent], tried=tried, programs=programs))
    assert got.instruction is None
    assert "drop(layer=2): reproduces #1" in (got.error or "")
    assert "inc(layer=0): reproduces #5" in (got.error or "")
    fresh = improver().improve(request(parents=[parent], tried=tried[:-1], programs=programs))
    assert fresh.instruction is not None and fresh.instruction.modification == "inc(layer=2)"


def test_the_duplicate_check_is_bounded_per_step() -> None:
    space = ListSpace()
    parent = cand(1, list(range(1, 12)))
    known = {}
    for m in space.propose(parent.code or ""):  # every child is already known
        known.update(hashes((_values(space.apply(parent.code or "", m)), 3)))
    space.applied.clear()
    got = improver(space).improve(request(parents=[parent], programs=known))
    assert got.instruction is None and len(space.applied) == MAX_APPLIES


def test_ties_go_to_the_newest_so_a_tying_child_becomes_the_parent() -> None:
    old, child, worse = cand(1, [1], 0.9), cand(4, [1, 7], 0.9), cand(6, [2], 0.5)
    objective = Objective()
    assert [c.id for c in rank_parents([old, worse, child], objective)] == [4, 1, 6]
    assert [c.id for c in rank_parents([old, child], Objective(direction="min"))] == [4, 1]
    got = improver().improve(request(parents=[old, child, worse]))
    assert got.instruction is not None and got.instruction.parent_id == 4


def test_with_nothing_trained_it_shrinks_a_candidate_over_the_cap() -> None:
    big = cand(3, [1, 2, 3], None, "failed", "params", params=5_000_000)
    for step in range(8):
        got = improver().improve(request(step, over_cap=[big]))
        assert got.instruction is not None and got.instruction.parent_id == 3
        assert got.instruction.mutation is not None and got.instruction.mutation["op"] == "drop"
    none = improver().improve(request())
    assert none.instruction is None
    assert none.error is not None and none.error.startswith("no trained candidate yet")


def test_a_parent_over_the_cap_with_nothing_left_to_shrink_is_given_up() -> None:
    tiny = cand(3, [1], None, "failed", "params", params=3_000_000)
    got = improver().improve(request(over_cap=[tiny]))
    assert got.instruction is None and "every shrinking mutation of #3" in (got.error or "")


def test_after_a_parameter_cap_failure_it_steers_to_smaller_models() -> None:
    parent = cand(1, [1, 2, 3], 0.9)
    failed = cand(2, [1, 2, 3, 7], None, "failed", "params", parent=1)
    ops = {improver().improve(request(s, parents=[parent], last=failed)).instruction
           .mutation["op"] for s in range(12)}  # type: ignore[union-attr, index]
    assert ops == {"drop"}
    free = {improver().improve(request(s, parents=[parent])).instruction
            .mutation["op"] for s in range(30)}  # type: ignore[union-attr, index]
    assert free > {"drop"}


def test_a_batch_never_asks_for_one_child_twice() -> None:
    parent = cand(1, [1])  # two options: add, inc
    reqs = [request(10 + i, parents=[parent]) for i in range(3)]
    got = improve_all(improver(), reqs)
    pairs = [(r.instruction.parent_id, r.instruction.modification) for r in got
             if isinstance(r.instruction, Instruction)]
    assert len(pairs) == 2 and len(set(pairs)) == 2
    assert got[2].instruction is None and "every mutation of #1 was tried" in (got[2].error or "")


@pytest.mark.parametrize("explore", [0.0, 0.5])
def test_the_choice_is_deterministic_per_step(explore: float) -> None:
    parents = [cand(1, [1, 2], 0.9), cand(2, [5], 0.8)]
    a = improver(explore=explore).improve(request(7, parents=parents))
    b = improver(explore=explore).improve(request(7, parents=parents))
    assert a.instruction == b.instruction
