"""`nasloop corpus transforms`: random compositions of 1-3 catalogue ops, unique by
structural hash, resumable, optionally evaluated in the sandbox (the augmentation task)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nasloop.corpus.records import append_record, repair_tail
from nasloop.tasks.augmentation.catalogue import CATALOGUE
from nasloop.tasks.augmentation.compose import Step, describe, render
from nasloop.tasks.augmentation.records import TransformRecord, read_transforms


@dataclass(frozen=True)
class TransformCorpusOptions:
    count: int
    ops: tuple[int, int] = (1, 3)
    seed: int = 0
    evaluate: bool = False
    jobs: int = 1
    dataset: str = "digits"
    network: str = "lenet"
    epochs: int = 1
    train_seed: int = 0  # every evaluation trains with it, whatever the sampler seed
    max_attempts: int = 50  # per transform asked for


@dataclass
class TransformCorpusReport:
    existing: int = 0
    written: int = 0
    attempts: int = 0
    duplicates: int = 0
    failed: int = 0
    wall_s: float = 0.0


def sample_steps(seed: int, attempt: int, ops: tuple[int, int]) -> list[Step]:
    """The composition of `attempt` (deterministic per seed): distinct ops, drawn params."""
    rng = random.Random(f"nasloop-transforms-{seed}-{attempt}")
    chosen = rng.sample(CATALOGUE, rng.randint(ops[0], ops[1]))
    return [Step(op.name, op.draw(rng)) for op in chosen]


def parse_ops(text: str) -> tuple[int, int]:
    """`1-3` or `2` -> (low, high); ValueError with a one-line reason."""
    lo, _, hi = text.partition("-")
    try:
        pair = (int(lo), int(hi or lo))
    except ValueError:
        raise ValueError(f"--ops {text!r}: expected N or LOW-HIGH such as 1-3") from None
    if not 1 <= pair[0] <= pair[1] <= len(CATALOGUE):
        raise ValueError(f"--ops {text!r}: between 1 and {len(CATALOGUE)}, low <= high")
    return pair


def build_transform_corpus(out: Path, opts: TransformCorpusOptions,
                           on_record: Callable[[TransformRecord], None] | None = None
                           ) -> TransformCorpusReport:
    """Append transforms to `out` until it holds `opts.count`; resumes what is there."""
    from nasloop.memory.novelty import structural_hash

    t0 = time.perf_counter()
    repair_tail(out)
    existing = read_transforms(out)
    report = TransformCorpusReport(existing=len(existing))
    seen = {r.id for r in existing}
    done = {r.attempt for r in existing}
    evaluator = _Evaluator(opts) if opts.evaluate and len(existing) < opts.count else None
    side = evaluator.side if evaluator else _side(opts.dataset)
    out.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    try:
        with out.open("a", encoding="utf-8") as handle:
            while len(existing) + report.written < opts.count and \
                    attempt < opts.count * opts.max_attempts:
                batch: list[TransformRecord] = []
                while len(batch) < max(1, 2 * opts.jobs) and \
                        len(existing) + report.written + len(batch) < opts.count and \
                        attempt < opts.count * opts.max_attempts:
                    steps = sample_steps(opts.seed, attempt, opts.ops)
                    code = render(steps, side)
                    rid = structural_hash(code)
                    if attempt not in done and rid not in seen:
                        seen.add(rid)
                        batch.append(TransformRecord(
                            id=rid, code=code, origin=f"catalogue:seed={opts.seed}",
                            attempt=attempt, description=describe(steps),
                            steps=[{"op": s.op, "args": s.args} for s in steps],
                            dataset=opts.dataset, network=opts.network))
                    elif attempt not in done:
                        report.duplicates += 1
                    attempt += 1
                if evaluator is not None:
                    batch = evaluator.run(batch)
                for rec in batch:
                    report.failed += rec.failure is not None
                    append_record(handle, rec)
                    report.written += 1
                    if on_record is not None:
                        on_record(rec)
    finally:
        if evaluator is not None:
            evaluator.close()
    report.attempts = attempt
    report.wall_s = time.perf_counter() - t0
    return report


def _side(dataset: str) -> int:
    from nasloop.data.table import dataset_info

    return dataset_info(dataset).shape[1]


class _Evaluator:
    """Trains the reference network with each transform in the sandbox (warm workers)."""

    def __init__(self, opts: TransformCorpusOptions) -> None:
        from nasloop.config import build_config
        from nasloop.sandbox.executor import LocalExecutor
        from nasloop.tasks.registry import build_task

        self.task = build_task(build_config({
            "task": {"kind": "augmentation", "network": opts.network},
            "data": {"dataset": opts.dataset}, "run": {"seed": opts.seed},
            "train": {"epochs": opts.epochs, "seed": opts.train_seed}}))
        self.side = self.task.dataset.shape[1]  # type: ignore[attr-defined]
        self.executor = LocalExecutor(max_in_flight=max(1, opts.jobs), runner=self.task.runner)

    def run(self, batch: list[TransformRecord]) -> list[TransformRecord]:
        handles = [self.executor.submit(self.task.job(r.attempt, r.code)) for r in batch]
        done = []
        metric = self.task.objective.metric
        for rec, handle in zip(batch, handles, strict=True):
            res = self.executor.result(handle)
            if res.status == "ok":
                done.append(rec.model_copy(update={"metrics": dict(res.metrics),
                                                   "accuracy": res.metrics.get(metric)}))
            else:
                done.append(rec.model_copy(update={
                    "failure": f"{res.failure_class}: {res.message}"}))
        return done

    def close(self) -> None:
        self.executor.close()
