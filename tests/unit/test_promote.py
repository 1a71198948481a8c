"""Multi-fidelity promotion: when a round is due, successive halving over the top candidates,
results beside (never over) the proxy score, and a round run again trains only what is
missing (resumable)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from nasloop.config import ConfigError, build_config
from nasloop.graph.promote import due, promote_round, rung_seeds, survivors
from nasloop.memory import promotions
from nasloop.memory.archive import Archive
from nasloop.memory.promotions import Promotion
from nasloop.sandbox.job import EvalResult
from nasloop.tasks.base import Objective


def test_a_round_is_due_when_a_cycle_crosses_a_multiple_of_every_or_the_budget() -> None:
    assert [s for s in range(1, 13) if due(s - 1, s, 12, 5)] == [5, 10, 12]
    assert due(3, 7, 30, 5) and not due(5, 9, 30, 5)  # a batch of 4 crossing 5; not crossing


def test_survivors_keep_the_best_by_the_rung_s_mean_ties_in_proxy_order() -> None:
    def p(cid: int, seed: int, score: float | None) -> Promotion:
        return Promotion(candidate_id=cid, epochs=3, seed=seed,
                         status="ok" if score is not None else "failed", score=score)

    results = {(r.candidate_id, 3, r.seed): r for r in [
        p(1, 0, 0.5), p(1, 1, 0.7), p(2, 0, 0.9), p(2, 1, 0.1), p(3, 0, None), p(4, 0, 0.6)]}
    # means: 1 -> 0.6, 2 -> 0.5, 3 failed (out), 4 -> 0.6 (ties with 1: proxy order)
    assert survivors([1, 2, 3, 4], results, 3, [0, 1], Objective(), 2) == [1, 4]
    assert survivors([1, 2, 3, 4], results, 3, [0, 1], Objective(), 3) == [1, 4]
    assert survivors([2, 1], results, 3, [0, 1], Objective(), 4) == [1]


def test_seeds_are_several_only_at_the_top_rung() -> None:
    cfg = build_config({"search": {"promote": {"epochs": [2, 4, 8], "seeds": 3}}}).search.promote
    assert [rung_seeds(cfg, r, 7) for r in range(3)] == [[7], [7], [7, 8, 9]]


def test_rungs_must_increase() -> None:
    with pytest.raises(ConfigError, match="search.promote.epochs"):
        build_config({"search": {"promote": {"epochs": [3, 3]}}})
    assert build_config({}).search.promote.enabled is False


class Executor:
    """Scores a job as proxy + epochs/100 + seed/1000 (proxy by step; id = step + 1); can
    break after `crash_after` results."""

    def __init__(self, proxy: dict[int, float], crash_after: int | None = None) -> None:
        self.proxy, self.crash_after = proxy, crash_after
        self.jobs: dict[str, SimpleNamespace] = {}
        self.trained: list[tuple[int, int, int]] = []

    def submit(self, job: SimpleNamespace) -> str:
        self.jobs[str(len(self.jobs))] = job
        return str(len(self.jobs) - 1)

    def result(self, handle: str, timeout: float | None = None) -> EvalResult:
        if self.crash_after is not None and len(self.trained) >= self.crash_after:
            raise KeyboardInterrupt  # the run is killed in the middle of a round
        job = self.jobs[handle]
        self.trained.append((job.cid, job.epochs, job.seed))
        score = self.proxy[job.cid - 1] + job.epochs / 100 + job.seed / 1000
        return EvalResult(candidate_id=job.cid, status="ok", metrics={"val_accuracy": score})


def _res(tmp_path: Path, executor: Executor, proxy: dict[int, float]) -> SimpleNamespace:
    archive = Archive(tmp_path / "a.sqlite")
    if not archive.candidates():
        for step, score in proxy.items():
            cid = archive.add_candidate(step, parent_id=None, origin="seed:x", modification=None,
                                        code=f"x = {step}\n", diff=None, gen_s=0.0)
            archive.set_ok(cid, form="bare", score=score, metrics={}, eval_wall_s=1.0)
    config = build_config({"search": {"promote": {
        "enabled": True, "top": 4, "epochs": [2, 5], "eta": 2, "seeds": 2}}})
    task = SimpleNamespace(
        objective=Objective(), kind="toy",
        promote_job=lambda cid, code, epochs, seed: SimpleNamespace(
            cid=cid, epochs=epochs, seed=seed))
    return SimpleNamespace(config=config, archive=archive, executor=executor, task=task)


def test_a_round_halves_the_top_and_keeps_the_proxy_score(tmp_path: Path) -> None:
    proxy = {0: 0.5, 1: 0.9, 2: 0.7, 3: 0.8, 4: 0.3}  # candidate ids 1..5 (steps 0..4)
    ex = Executor(proxy)
    res = _res(tmp_path, ex, proxy)
    promote_round(res)
    # the top 4 by proxy (ids 2, 4, 3, 1) at 2 epochs; the best 2 of them at 5 epochs, 2 seeds
    assert ex.trained[:4] == [(2, 2, 0), (4, 2, 0), (3, 2, 0), (1, 2, 0)]
    assert sorted(ex.trained[4:]) == [(2, 5, 0), (2, 5, 1), (4, 5, 0), (4, 5, 1)]
    got = promotions.read(res.archive.db)
    assert len(got) == 8 and all(p.status == "ok" for p in got)
    assert res.archive.get(2).score == 0.9  # the proxy score is untouched
    promote_round(res)  # nothing new: nothing trained again
    assert len(ex.trained) == 8
    res.archive.close()


def test_a_round_killed_midway_trains_only_what_is_missing_when_run_again(
        tmp_path: Path) -> None:
    proxy = {0: 0.5, 1: 0.9, 2: 0.7, 3: 0.8}
    with pytest.raises(KeyboardInterrupt):
        promote_round(_res(tmp_path, Executor(proxy, crash_after=5), proxy))
    again = Executor(proxy)
    res = _res(tmp_path, again, proxy)  # the same archive, reopened
    promote_round(res)
    assert len(again.trained) == 3 and all(e == 5 for _, e, _ in again.trained)
    (tmp_path / "whole").mkdir()
    fresh = _res(tmp_path / "whole", Executor(proxy), proxy)
    promote_round(fresh)
    def rows(db: object) -> list[dict[str, object]]:
        return [p.model_dump(exclude={"wall_s"}) for p in promotions.read(db)]  # type: ignore

    assert rows(res.archive.db) == rows(fresh.archive.db) and len(rows(res.archive.db)) == 8
    res.archive.close()
    fresh.archive.close()


def test_a_fork_keeps_only_the_promotions_made_before_its_step() -> None:
    import sqlite3

    from nasloop.inspect.fork import _cut_promotions

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE candidates (id INTEGER PRIMARY KEY)")
    db.executemany("INSERT INTO candidates VALUES (?)", [(1,), (2,)])
    promotions.ensure(db)
    for cid, at in ((1, 10.0), (2, 20.0), (3, 5.0)):  # 3: a candidate the fork dropped
        db.execute("INSERT INTO promotions(candidate_id, epochs, seed, status, created_at)"
                   " VALUES (?, 3, 0, 'ok', ?)", (cid, at))
    _cut_promotions(db, 15.0)  # the fork step's candidate was made at 15
    assert [p.candidate_id for p in promotions.read(db)] == [1]
    _cut_promotions(sqlite3.connect(":memory:"), None)  # a run without promotions: nothing


def test_a_task_that_offers_no_promotion_refuses_the_setting() -> None:
    from nasloop.runner import check_promotion
    from nasloop.tasks.registry import build_task

    on = build_config({"search": {"promote": {"enabled": True}}})
    check_promotion(on, build_task(on))  # image classification on one dataset offers it
    toy = SimpleNamespace(kind="toy", promote_job=lambda *a, **k: None)
    check_promotion(build_config({}), toy)  # off: nothing asked
    with pytest.raises(ConfigError, match="search.promote.enabled': the toy task") as err:
        check_promotion(on, toy)
    assert "\n" not in str(err.value)
