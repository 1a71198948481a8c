"""Credit per operator from the archive's triples, and the Thompson-sampling bandit the
heuristic improver uses with `[search] operator_credit = "bandit"`."""

from __future__ import annotations

import random
from collections import Counter

from test_heuristic_no_waste import ListSpace, cand, request  # sibling test module

from nasloop.agents.heuristic import HeuristicImprover
from nasloop.config import build_config
from nasloop.memory.credit import Credit, operator_credit, thompson
from nasloop.memory.triples import Triple


def t(step: int, modification: str, delta: float | None = None,
      failure: str | None = None) -> Triple:
    return Triple(step=step, candidate_id=step, problem="p", modification=modification,
                  outcome="o", delta=delta, failure_class=failure)


def test_a_win_is_a_child_better_than_its_parent_failures_count_as_tries() -> None:
    triples = [t(0, "seed:lenet"), t(1, "widen(layer=a)", 0.05), t(2, "widen(layer=b)", -0.1),
               t(3, "widen(layer=c)", 0.0), t(4, "narrow(layer=a)", failure="train_error"),
               t(5, "narrow(layer=b)", failure="duplicate"), t(6, "norm(layer=a)", 0.2)]
    assert operator_credit(triples) == {
        "widen": Credit(3, 1), "narrow": Credit(2, 0), "norm": Credit(1, 1)}


def test_thompson_draws_are_reproducible_and_follow_the_credit() -> None:
    credit = {"good": Credit(20, 15), "bad": Credit(20, 1)}
    draws = thompson(["bad", "good", "new"], credit, random.Random("0:7"))
    assert draws == thompson(["new", "good", "bad"], credit, random.Random("0:7"))
    picks = Counter(max(d, key=d.__getitem__) for d in (
        thompson(["bad", "good"], credit, random.Random(i)) for i in range(400)))
    assert picks["good"] > 380  # Beta(16, 6) against Beta(2, 20)
    # an untried operator still gets played: its Beta(1, 1) beats a poor record sometimes
    untried = Counter(max(d, key=d.__getitem__) for d in (
        thompson(["bad", "new"], credit, random.Random(i)) for i in range(400)))
    assert 300 < untried["new"] < 400


def test_the_bandit_improver_plays_the_operator_that_wins_over_the_whole_archive() -> None:
    parent = cand(1, [1, 2, 3])
    credit = {"inc": Credit(30, 20), "add": Credit(30, 0), "drop": Credit(30, 1)}
    bandit = HeuristicImprover(ListSpace(), explore=0.0, credit="bandit")
    ops = Counter()
    for step in range(60):
        got = bandit.improve(request(step, parents=[parent], credit=credit))
        assert got.instruction is not None
        ops[got.instruction.modification.split("(")[0]] += 1
        again = bandit.improve(request(step, parents=[parent], credit=credit))
        assert again.instruction == got.instruction  # (seed, step) decide: resume-safe
    assert ops["inc"] >= 57
    assert '"credit": {"add": [30, 0]' in got.calls[0].prompt  # the trace shows the credit


def test_operator_credit_is_a_setting_default_triples() -> None:
    assert build_config({}).search.operator_credit == "triples"
    assert build_config({"search": {"operator_credit": "bandit"}}).search.operator_credit \
        == "bandit"
