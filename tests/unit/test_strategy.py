"""Search strategies: populations from the archive, and the parent samplers."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from test_heuristic_no_waste import cand, improver, request  # sibling test module

from nasloop.config import SearchConfig
from nasloop.memory.archive import Candidate
from nasloop.strategy.population import (
    cell,
    dominates,
    elites,
    family,
    front,
    home_island,
    islands,
    parents,
)
from nasloop.strategy.samplers import sample
from nasloop.tasks.base import Objective

MAX = Objective()


def c(cid: int, score: float, params: int, parent: int | None = None, step: int | None = None,
      flops: float | None = None) -> Candidate:
    return cand(cid, [cid], score, params=params, parent=parent).model_copy(
        update={"step": cid if step is None else step, "flops": flops})


def test_dominance_and_front() -> None:
    a, b, d, e = c(1, 0.9, 1000), c(2, 0.8, 500), c(3, 0.8, 800), c(4, 0.9, 1000)
    assert dominates(b, d, MAX, "params") and not dominates(d, b, MAX, "params")
    assert not dominates(a, b, MAX, "params") and not dominates(b, a, MAX, "params")
    assert not dominates(a, e, MAX, "params")  # equal on both: neither dominates
    assert [x.id for x in front([a, b, d, e], MAX, "params")] == [4, 1, 2]
    f1, f2 = c(5, 0.9, 10, flops=9e6), c(6, 0.8, 99, flops=1e6)
    assert [x.id for x in front([f1, f2], MAX, "flops")] == [5, 6]
    assert [x.id for x in front([f1, f2], MAX, "params")] == [5]
    assert [x.id for x in front([f1, f2], Objective(direction="min"), "params")] == [6, 5]


def test_cells_are_log2_params_by_seed_family() -> None:
    s1, s2 = c(1, 0.3, 1000), c(2, 0.4, 1000)
    k1, k2, k3 = c(3, 0.5, 1500, parent=1), c(4, 0.6, 4000, parent=3), c(5, 0.2, 1023, parent=2)
    by_id = {x.id: x for x in (s1, s2, k1, k2, k3)}
    assert family(k2, by_id) == 1 and family(k3, by_id) == 2 and family(s1, by_id) == 1
    assert cell(s1, by_id) == (9, 1) and cell(k1, by_id) == (10, 1)
    assert cell(k2, by_id) == (11, 1) and cell(k3, by_id) == (9, 2)
    best = elites(list(by_id.values()), MAX, by_id)
    assert {k: v.id for k, v in best.items()} == {(9, 1): 1, (10, 1): 3, (11, 1): 4,
                                                  (9, 2): 2}


def test_islands_take_turns_and_migrate_in_a_ring() -> None:
    assert [home_island(s, 3, 2) for s in range(7)] == [0, 1, 0, 0, 1, 0, 1]
    # seeds #0..#2 (steps 0-2), then steps 3.. alternate islands 0, 1
    trained = [c(i, score, 100, step=i) for i, score in
               enumerate([0.3, 0.5, 0.4, 0.6, 0.2, 0.1, 0.7])]
    before = islands(trained[:4], MAX, n_seeds=3, n=2, every=100)
    assert [[x.id for x in m] for m in before] == [[3, 2, 0], [1]]
    after = islands(trained, MAX, n_seeds=3, n=2, every=4)
    # at step 4 (before #4 joined): best of island 0 (#3) -> island 1, best of 1 (#1) -> 0
    assert [x.id for x in after[0]] == [3, 1, 2, 0, 5]
    assert [x.id for x in after[1]] == [6, 3, 1, 4]
    three = islands(trained, MAX, n_seeds=3, n=3, every=4)
    # ring 0 -> 1 -> 2 -> 0: #3 (best of 0) joins 1, #1 joins 2, #2 joins 0
    assert {x.id for x in three[1]} == {1, 4, 3}
    assert {x.id for x in three[2]} == {2, 5, 1} and {x.id for x in three[0]} == {0, 3, 6, 2}


@pytest.mark.parametrize(("how", "expected"), [
    ("best", [1.0, 0, 0, 0]),
    ("uniform", [0.25, 0.25, 0.25, 0.25]),
    ("tournament", [0.75, 0.25, 0, 0]),  # best of 3 of 4: rank 1 unless it was left out
    ("power-law", [12 / 25, 6 / 25, 4 / 25, 3 / 25]),  # 1 : 1/2 : 1/3 : 1/4
])
def test_each_sampler_s_distribution_on_a_fixed_seed(how: str, expected: list[float]) -> None:
    rng = random.Random(7)
    n = 20_000
    counts = Counter(sample(4, how, rng, tournament=3, power=1.0) for _ in range(n))  # type: ignore[arg-type]
    got = [counts[r] / n for r in range(4)]
    assert got == pytest.approx(expected, abs=0.015)


def test_parents_put_the_sampled_member_first_then_the_population_then_the_rest() -> None:
    trained = [c(1, 0.9, 1000), c(2, 0.8, 100), c(3, 0.85, 5000), c(4, 0.7, 5000)]
    cfg = SearchConfig(strategy="pareto", sampler="best")
    assert [x.id for x in parents(trained, MAX, cfg, 3, 10, 0)] == [1, 2, 3, 4]
    picks = Counter(parents(trained, MAX, cfg.model_copy(update={"sampler": "uniform"}), 3,
                            step, 0)[0].id for step in range(200))
    assert set(picks) == {1, 2}  # only the front is sampled
    again = parents(trained, MAX, cfg.model_copy(update={"sampler": "uniform"}), 3, 17, 0)
    assert again == parents(trained, MAX, cfg.model_copy(update={"sampler": "uniform"}), 3,
                            17, 0)  # the same step and seed pick the same parent (resume)


def test_both_islands_advance() -> None:
    trained = [c(i, 0.1 * (i + 1), 100, step=i) for i in range(3)]
    cfg = SearchConfig(strategy="islands", sampler="best", islands=2, migrate_every=50)
    firsts = [parents(trained, MAX, cfg, 3, step, 0)[0].id for step in (3, 4, 5, 6)]
    assert firsts == [2, 1, 2, 1]  # island 0 holds seeds #0, #2; island 1 seed #1


def test_the_heuristic_improver_keeps_a_strategy_s_order() -> None:
    low, high = cand(1, [1, 2], 0.2), cand(2, [3, 4], 0.9)
    for step in range(6):
        got = improver(explore=0.9).improve(request(step, parents=[low, high], ordered=True))
        assert got.instruction is not None and got.instruction.parent_id == 1


def test_the_report_shows_the_grid_the_front_and_the_islands() -> None:
    from nasloop.inspect.population import population_section

    trained = [c(1, 0.3, 1000), c(2, 0.4, 100), c(3, 0.5, 1500, parent=1),
               c(4, 0.2, 3000, parent=1)]
    assert population_section({}, trained, MAX) is None  # greedy
    title, html = population_section({"search": {"strategy": "map-elites"}}, trained, MAX)
    assert title == "MAP-Elites grid (4 cells)" and html.count('<tr class="cell-row">') == 4
    assert "#3 0.5000" in html and "seed #2" in html
    title, html = population_section({"search": {"strategy": "pareto"}}, trained, MAX)
    assert html.count('<tr class="front">') == 2 and "#3" in html and "#2" in html
    title, html = population_section({"search": {"strategy": "islands", "islands": 3}},
                                     trained, MAX)
    assert title.startswith("Islands (3") and html.count('<tr class="island">') == 3


def test_inspirations_take_other_families_first_then_the_best() -> None:
    """Two seed families besides the parent's: their best members come first (best family
    first), then the best of the rest; never the parent, its exact code, or a failure."""
    from nasloop.strategy.inspirations import choose

    seeds = [c(1, 0.5, 100), c(2, 0.4, 100), c(3, 0.3, 100)]
    kids = [c(4, 0.95, 100, parent=1), c(5, 0.9, 100, parent=4), c(6, 0.6, 100, parent=2),
            c(7, 0.7, 100, parent=3), c(8, 0.92, 100, parent=1)]
    twin = kids[1].model_copy(update={"id": 9, "step": 9, "code": kids[0].code})
    broken = c(10, 0.99, 100, parent=1).model_copy(update={"status": "failed"})
    everyone = seeds + kids + [twin, broken]
    by_id = {x.id: x for x in everyone}
    parent = kids[0]  # family 1
    got = choose(parent, [x for x in everyone if x.id != 4], 3, by_id, MAX)
    assert [x.id for x in got] == [7, 6, 8]  # family 3's best (0.7), family 2's (0.6), then 0.92
    assert [x.id for x in choose(parent, everyone, 1, by_id, MAX)] == [7]
    assert choose(parent, everyone, 0, by_id, MAX) == []
    assert [x.id for x in choose(parent, kids[1:2] + [twin], 2, by_id, MAX)] == [5]


def test_exploration_schedules() -> None:
    from nasloop.strategy.schedule import explore_at

    assert explore_at(0.2, 0.0, "constant", 50, 3, 99) == 0.2
    assert [explore_at(0.4, 0.0, "linear", s, 3, 99) for s in (0, 3, 51, 99, 120)] == \
        pytest.approx([0.4, 0.4, 0.2, 0.0, 0.0])
    cos = [explore_at(0.4, 0.1, "cosine", s, 3, 99) for s in (3, 27, 51, 75, 99)]
    assert cos == pytest.approx([0.4, 0.4 - 0.3 * (1 - 2 ** -0.5) / 2, 0.25,
                                 0.1 + 0.3 * (1 - 2 ** -0.5) / 2, 0.1])
    assert explore_at(0.3, 0.0, "linear", 5, 5, 5) == 0.3  # a one-step run: the start value


def test_the_heuristic_improver_explores_as_the_request_says() -> None:
    """`ImproveRequest.explore` overrides the improver's own chance: 1.0 never takes the
    best of several, 0.0 always does; None keeps the improver's setting."""
    best, other = cand(1, [1], 0.9), cand(2, [2], 0.5)
    picks = {}
    for explore in (1.0, 0.0, None):
        picks[explore] = {improver(explore=0.0).improve(
            request(step=s, parents=[best, other], explore=explore)).instruction.parent_id
            for s in range(20)}
    assert picks == {1.0: {2}, 0.0: {1}, None: {1}}


def test_greedy_takes_the_newest_near_tie_of_the_best() -> None:
    """With `tie`, a candidate within that much of the best counts as tied with it and the
    newest tied one is the parent; without, the best."""
    from test_heuristic_no_waste import ListSpace

    from nasloop.agents.heuristic import HeuristicImprover

    best, near, far, older = (cand(1, [1], 0.9), cand(5, [5], 0.885), cand(6, [6], 0.85),
                              cand(2, [2], 0.89))
    req = request(parents=[far, near, best, older])
    for tie, want in ((0.0, 1), (0.02, 5), (0.001, 1), (0.06, 6)):
        got = HeuristicImprover(ListSpace(), explore=0.0, tie=tie).improve(req)
        assert got.instruction.parent_id == want, tie
