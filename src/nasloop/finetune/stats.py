"""Per-cycle figures: valid-generation rate, proxy metric, elite-set probability, and the
proxy-reliability diagnostic (sigma^2 of architectures against sigma^2 of seed noise)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from nasloop.memory.archive import Candidate


class Reliability(BaseModel):
    """How far the proxy ranks architectures rather than seed noise.

    `sigma2_noise` is the mean within-architecture variance over seeds; `sigma2_arch` the
    variance of the architectures' means less the noise left in a mean (floored at 0).
    `rho_p` = sigma2_arch / (sigma2_arch + sigma2_noise) is the correlation of two
    single evaluations of the same architectures, and `rho_s` = (6/pi) asin(rho_p / 2) the
    rank (Spearman) reliability it implies for Gaussian scores.
    """

    architectures: int
    evaluations: int
    sigma2_arch: float
    sigma2_noise: float
    rho_p: float
    rho_s: float


class CycleStats(BaseModel):
    generated: int  # candidates the generator wrote in the cycle (seeds excluded)
    valid: int  # of those: code that passed the checks and trained (or duplicated one that did)
    valid_rate: float
    trained: int  # trained to a metric (duplicates are not trained again)
    mean_metric: float | None
    best_metric: float | None
    share_above: float | None  # of the trained, the share with metric > threshold
    threshold: float
    elite_bar: float | None  # metric an elite needed (the previous cycle's cut)
    elite_probability: float  # share of generated candidates at or above elite_bar
    novel_elites: int = 0
    fallback_elites: int = 0
    seen_in_training: int = 0  # prompts whose (parent, change) a training pair had
    reliability: Reliability | None = None


def is_valid(cand: Candidate, original: Mapping[int, Candidate]) -> bool:
    """Trained to a metric, or a duplicate of a candidate that was."""
    if cand.status == "ok":
        return True
    if cand.status == "duplicate" and cand.duplicate_of is not None:
        first = original.get(cand.duplicate_of)
        return first is not None and first.status == "ok"
    return False


def metric_of(cand: Candidate, original: Mapping[int, Candidate]) -> float | None:
    """The candidate's metric, or that of the trained candidate it duplicates."""
    if cand.status == "ok":
        return cand.score
    if cand.status == "duplicate" and cand.duplicate_of is not None:
        first = original.get(cand.duplicate_of)
        return first.score if first is not None and first.status == "ok" else None
    return None


def cycle_stats(
    generated: Sequence[Candidate],
    original: Mapping[int, Candidate],
    *,
    threshold: float,
    elite_bar: float | None,
) -> CycleStats:
    """Figures of one cycle's generated candidates (`original`: every candidate by id)."""
    n = len(generated)
    valid = [c for c in generated if is_valid(c, original)]
    trained = [c.score for c in generated if c.status == "ok" and c.score is not None]
    scores = [metric_of(c, original) for c in generated]
    if elite_bar is None:
        hits = 0
    else:
        hits = sum(1 for s in scores if s is not None and s >= elite_bar)
    return CycleStats(
        generated=n,
        valid=len(valid),
        valid_rate=len(valid) / n if n else 0.0,
        trained=len(trained),
        mean_metric=statistics.fmean(trained) if trained else None,
        best_metric=max(trained) if trained else None,
        share_above=(sum(1 for s in trained if s > threshold) / len(trained)) if trained else None,
        threshold=threshold,
        elite_bar=elite_bar,
        elite_probability=hits / n if n else 0.0,
    )


def reliability(scores: Mapping[int, Sequence[float]]) -> Reliability | None:
    """The diagnostic from per-architecture scores over seeds; None without two
    architectures evaluated at least twice each."""
    groups = [list(v) for v in scores.values() if len(v) >= 2]
    if len(groups) < 2:
        return None
    noise = statistics.fmean(statistics.variance(g) for g in groups)
    means = [statistics.fmean(g) for g in groups]
    mean_n = statistics.fmean(len(g) for g in groups)
    arch = max(0.0, statistics.variance(means) - noise / mean_n)
    total = arch + noise
    rho_p = arch / total if total > 0 else 1.0
    return Reliability(
        architectures=len(groups),
        evaluations=sum(len(g) for g in groups),
        sigma2_arch=arch,
        sigma2_noise=noise,
        rho_p=rho_p,
        rho_s=rank_reliability(rho_p),
    )


def rank_reliability(rho_p: float) -> float:
    """rho_S = (6/pi) asin(rho_P / 2): Spearman's rho of a bivariate normal with Pearson rho_P."""
    return 6.0 / math.pi * math.asin(max(-1.0, min(1.0, rho_p)) / 2.0)
