"""Multi-fidelity promotion (`[search.promote]`): successive halving of the top candidates.

A round takes the `top` candidates by the proxy score, trains each for the first rung's
epochs, keeps the best 1/eta by that rung's score for the next rung, and so on; the top
rung trains with `seeds` training seeds. Results go to the archive's promotions table
(memory.promotions), never over the proxy score. A result already recorded for a
(candidate, epochs, seed) is reused, so a later round trains only the newcomers, and a
round run again after a crash only what is missing. Scores are the task's validation
metric, computed on the trusted side like the search's.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import TYPE_CHECKING

from nasloop.graph.evaluate import MESSAGE_CHARS, finite_metrics, objective_score
from nasloop.memory import promotions
from nasloop.memory.promotions import Promotion
from nasloop.textsafe import plain

if TYPE_CHECKING:
    from nasloop.config import PromoteConfig
    from nasloop.graph.resources import Resources
    from nasloop.tasks.base import Objective

Key = tuple[int, int, int]  # candidate id, epochs, seed


def due(step0: int, step: int, budget: int, every: int) -> bool:
    """A round is due after the cycle from `step0` to `step` when it crossed a multiple of
    `every`, or reached the budget."""
    return step >= budget or step // every > step0 // every


def rung_seeds(cfg: PromoteConfig, rung: int, base_seed: int) -> list[int]:
    """Training seeds of rung `rung` (0-based): several at the top rung, else the run's
    training seed."""
    n = cfg.seeds if rung == len(cfg.epochs) - 1 else 1
    return [base_seed + i for i in range(n)]


def survivors(entrants: list[int], results: dict[Key, Promotion], epochs: int,
              seeds: list[int], objective: Objective, eta: int) -> list[int]:
    """The best ceil(n / eta) entrants by their mean score at `epochs` (entrants without a
    trained result drop out; ties keep the proxy order)."""
    scored = []
    for order, cid in enumerate(entrants):
        got = [results[(cid, epochs, s)].score for s in seeds if (cid, epochs, s) in results]
        ok = [g for g in got if g is not None]
        if ok:
            scored.append((objective.sort_key(statistics.fmean(ok)), order, cid))
    keep = max(1, math.ceil(len(entrants) / eta))
    return [cid for _, _, cid in sorted(scored)[:keep]]


def promote_round(res: Resources) -> None:
    """One round of successive halving over the current top candidates."""
    cfg, archive = res.config.search.promote, res.archive
    promotions.ensure(archive.db)
    results = {(p.candidate_id, p.epochs, p.seed): p for p in promotions.read(archive.db)}
    entrants = [c.id for c in archive.top(cfg.top)]
    objective = res.task.objective
    for rung, epochs in enumerate(cfg.epochs):
        if not entrants:
            return
        seeds = rung_seeds(cfg, rung, res.config.training_seed())
        todo = [(cid, epochs, s) for cid in entrants for s in seeds
                if (cid, epochs, s) not in results]
        for p in _train(res, todo):
            results[(p.candidate_id, p.epochs, p.seed)] = p
        entrants = survivors(entrants, results, epochs, seeds, objective, cfg.eta)


def _train(res: Resources, todo: list[Key]) -> list[Promotion]:
    """Train every (candidate, epochs, seed) of `todo` (submitted at once), recording each
    result as it comes back."""
    pending = {}
    for cid, epochs, seed in todo:
        job = res.task.promote_job(cid, res.archive.get(cid).code or "", epochs=epochs,
                                   seed=seed)
        if job is None:
            raise RuntimeError(f"the {res.task.kind} task offers no promotion")
        pending[res.executor.submit(job)] = ((cid, epochs, seed), time.perf_counter())
    done = []
    for handle, ((cid, epochs, seed), t0) in pending.items():
        result = res.executor.result(handle, timeout=None)
        score, why = (objective_score(res.task.objective, result) if result.status == "ok"
                      else (None, result.message or "failed"))
        p = Promotion(
            candidate_id=cid, epochs=epochs, seed=seed,
            status="ok" if score is not None else "failed", score=score,
            metrics=finite_metrics(result.metrics or {}) or None,
            failure_class=None if score is not None else (result.failure_class or "bad-result"),
            message=None if score is not None else plain(why, MESSAGE_CHARS),
            wall_s=time.perf_counter() - t0)
        promotions.add(res.archive.db, p)
        done.append(p)
    return done
