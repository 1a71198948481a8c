"""Build a channel-configuration corpus: sample, realise, dry-check, (evaluate), append."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nasloop.agents.mutation import MutationError
from nasloop.agents.mutation.api import confirm
from nasloop.agents.mutation.context import ModelContext, analyse
from nasloop.corpus.records import CorpusRecord, append_record, read_records, repair_tail
from nasloop.corpus.space import (
    Slot,
    channel_space,
    config_key,
    mutations_for,
    realise,
    sample,
    site_spans,
)

BATCH = 256  # attempts per round; each sandbox job analyses the parent again (~1 s)


class CorpusError(Exception):
    """The corpus cannot be built as asked (one-line reason)."""


@dataclass(frozen=True)
class CorpusOptions:
    """What to build. ``in_shape`` is (C, H, W); the batch dimension is added here."""

    count: int
    seed: int = 0
    jobs: int = 1
    evaluate: bool = False
    in_shape: tuple[int, int, int] = (1, 32, 32)
    num_classes: int = 10
    max_params: int = 2_000_000
    dataset: str = "digits"
    max_attempts_per_variant: int = 50


@dataclass
class CorpusReport:
    """What a build did."""

    existing: int = 0
    written: int = 0
    attempts: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0

    @property
    def rate(self) -> float:
        """Variants written per second of wall time."""
        return self.written / self.wall_s if self.wall_s > 0 else 0.0


# --- worker side -------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(parent_code: str, parent_name: str, opts: CorpusOptions) -> None:
    import torch

    torch.set_num_threads(1)
    shape = (2, *opts.in_shape)
    ctx = analyse(parent_code, shape, opts.num_classes)
    from nasloop.memory.novelty import structural_hash

    _WORKER.update(
        ctx=ctx,
        slots=channel_space(ctx),
        spans=site_spans(ctx),
        name=parent_name,
        opts=opts,
        parent_hash=structural_hash(parent_code),
    )


def _make(task: tuple[int, dict[str, int]]) -> tuple[int, dict[str, Any] | None, str | None]:
    """Realise and dry-check one configuration: (attempt, record fields, rejection reason)."""
    from nasloop.agents.delta import make_diff
    from nasloop.memory.novelty import structural_hash

    attempt, config = task
    ctx: ModelContext = _WORKER["ctx"]
    slots: list[Slot] = _WORKER["slots"]
    opts: CorpusOptions = _WORKER["opts"]
    try:
        code = realise(ctx, config, _WORKER["spans"])
        params, flops = confirm(code, ctx.in_shape, ctx.num_classes, opts.max_params)
    except MutationError as err:
        return attempt, None, err.reason
    mutations = mutations_for(slots, config)
    fields = {
        "id": structural_hash(code),
        "parent": _WORKER["name"],
        "parent_hash": _WORKER["parent_hash"],
        "attempt": attempt,
        "code": code,
        "diff": make_diff(ctx.code, code),
        "mutations": [m.model_dump() for m in mutations],
        "description": "; ".join(m.describe() for m in mutations),
        "channels": {s.layer: config.get(s.layer, s.width) for s in slots},
        "params": params,
        "flops": flops,
        "form": ctx.form,
        "in_shape": list(ctx.in_shape[1:]),
        "num_classes": ctx.num_classes,
    }
    return attempt, fields, None


# --- orchestrator side -------------------------------------------------------------------


def _tasks(
    slots: list[Slot], opts: CorpusOptions, seen: set[str], limit: int
) -> Iterator[tuple[int, dict[str, int]]]:
    """Unseen configurations in attempt order (deterministic for a seed)."""
    for attempt in range(limit):
        config = sample(slots, opts.seed, attempt)
        key = config_key(slots, config)
        if key not in seen:
            seen.add(key)
            yield attempt, config


def variants_batch(parent_code: str, parent_name: str, opts: CorpusOptions,
                   existing: list[dict[str, int]], skip: int, take: int) -> dict[str, Any]:
    """Sandbox side (op "corpus"): analyse the parent, then realise and dry-check the unseen
    configurations `skip` .. `skip + take` of the attempt order; `existing` holds the
    channels of the records already written. Returns {"results": [(attempt, fields,
    reason)], "parent": the parent's own rejection reason or None}."""
    try:
        _init_worker(parent_code, parent_name, opts)
    except MutationError as err:
        return {"results": [], "parent": err.reason, "analysis": True}
    slots: list[Slot] = _WORKER["slots"]
    _, _, reason = _make((-1, {}))
    seen = {",".join(f"{s.layer}={ch.get(s.layer, s.width)}" for s in slots) for ch in existing}
    tasks = _tasks(slots, opts, seen, opts.count * opts.max_attempts_per_variant)
    batch = [t for i, t in zip(range(skip + take), tasks, strict=False) if i >= skip]
    return {"results": [list(_make(t)) for t in batch], "parent": reason}


def build_corpus(
    parent_code: str,
    parent_name: str,
    out: Path,
    opts: CorpusOptions,
    on_record: Callable[[CorpusRecord], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> CorpusReport:
    """Append variants to ``out`` until it holds ``opts.count``; resumes what is there.

    The parent and its variants are built and checked in the sandbox (``opts.jobs`` warm
    workers), never in this process. ``on_start(existing)`` runs once the parent passed its
    check; ``on_record`` runs after each record is written.
    """
    from nasloop.memory.novelty import structural_hash

    start = time.perf_counter()
    repair_tail(out)
    existing = read_records(out)
    parent_hash = structural_hash(parent_code)
    foreign = [r for r in existing if r.parent_hash != parent_hash]
    if foreign:
        raise CorpusError(f"{out} holds variants of another model ({foreign[0].parent})")
    report = CorpusReport(existing=len(existing))
    seen_ids = {r.id for r in existing}
    need = opts.count - len(existing)
    sandbox = _VariantSandbox(parent_code, parent_name, opts, [r.channels for r in existing])
    evaluator = None
    try:
        sandbox.check_parent()
        evaluator = _Evaluator(opts) if opts.evaluate and need > 0 else None
        if on_start is not None:
            on_start(len(existing))
        out.parent.mkdir(parents=True, exist_ok=True)
        dispatched = 0
        with out.open("a", encoding="utf-8") as handle:
            while report.written < need:
                chunk = max(2 * opts.jobs, min(BATCH, need - report.written))
                results = sandbox.batch(dispatched, chunk)
                dispatched += chunk
                if not results:
                    break
                report.attempts = results[-1][0] + 1
                made = []
                for _, fields, reason in results:
                    if fields is None:
                        report.rejected[reason or "unknown"] += 1
                    elif fields["id"] in seen_ids:
                        report.rejected["duplicate structure"] += 1
                    else:
                        seen_ids.add(fields["id"])
                        made.append(fields)
                made = made[: need - report.written]
                if evaluator is not None:
                    evaluator.run(made)
                for fields in made:
                    record = CorpusRecord.model_validate({**fields, "parent_code": parent_code})
                    append_record(handle, record)
                    report.written += 1
                    if on_record is not None:
                        on_record(record)
    finally:
        sandbox.close()
        if evaluator is not None:
            evaluator.close()
    report.wall_s = time.perf_counter() - start
    return report


class _VariantSandbox:
    """The corpus's sandbox workers: each batch of attempts is split over ``opts.jobs``
    candidate processes (runner op "corpus"), results kept in attempt order."""

    def __init__(self, parent_code: str, parent_name: str, opts: CorpusOptions,
                 existing: list[dict[str, int]]) -> None:
        from nasloop.tasks.image_classification.analysis import AnalysisSandbox

        self.code, self.name, self.opts = parent_code, parent_name, opts
        self.existing = existing
        self.sandbox = AnalysisSandbox(slots=max(1, opts.jobs))

    def _params(self, skip: int, take: int) -> dict[str, Any]:
        opts = {**asdict(self.opts), "in_shape": list(self.opts.in_shape)}
        return {"parent_name": self.name, "options": opts, "existing": self.existing,
                "skip": skip, "take": take}

    def check_parent(self) -> None:
        got, why = self.sandbox.run_many([("corpus", self.code, self._params(0, 0))])[0]
        if why is not None:
            raise CorpusError(f"{self.name}: {why}")
        if got.get("analysis"):
            raise CorpusError(f"{self.name}: {got['parent']}")
        if got.get("parent") is not None:
            raise CorpusError(f"{self.name} fails the dry check: {got['parent']}")

    def batch(self, skip: int, take: int) -> list[tuple[int, dict[str, Any] | None, str | None]]:
        jobs = max(1, min(self.opts.jobs, take))
        size = -(-take // jobs)
        asks = [("corpus", self.code, self._params(skip + i * size, min(size, take - i * size)))
                for i in range(jobs) if take - i * size > 0]
        found: list[tuple[int, dict[str, Any] | None, str | None]] = []
        for got, why in self.sandbox.run_many(asks):
            if why is not None:
                raise CorpusError(f"{self.name}: the sandbox failed a batch: {why}")
            found += [(int(a), f, r) for a, f, r in got.get("results", [])]
        return found

    def close(self) -> None:
        self.sandbox.close()


class _Evaluator:
    """Trains variants in the sandbox (LocalExecutor, warm workers) and fills their metrics."""

    def __init__(self, opts: CorpusOptions) -> None:
        from nasloop.config import build_config
        from nasloop.sandbox.executor import LocalExecutor
        from nasloop.tasks.registry import build_task

        self.opts = opts
        self.task = build_task(build_config({
            "data": {"dataset": opts.dataset}, "run": {"seed": opts.seed},
            "train": {"max_params": opts.max_params}}))
        self.executor = LocalExecutor(max_in_flight=max(1, opts.jobs), runner=self.task.runner)

    def run(self, made: list[dict[str, Any]]) -> None:
        handles = [
            self.executor.submit(self.task.job(fields["attempt"], fields["code"]))
            for fields in made
        ]
        for fields, handle in zip(made, handles, strict=True):
            result = self.executor.result(handle)
            if result.status == "ok":
                fields["metrics"] = dict(result.metrics)
            else:
                fields["failure"] = f"{result.failure_class}: {result.message}"

    def close(self) -> None:
        self.executor.close()
