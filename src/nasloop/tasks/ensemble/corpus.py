"""`nasloop corpus moe`: a JSONL corpus of sampled, assembled (and optionally trained)
ensembles, resumable; each record names its experts' families."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from nasloop.tasks.ensemble.settings import MoeSettings, Sampler


class MoeCorpusError(ValueError):
    """The corpus cannot be built or continued as asked (one-line reason)."""


class MoeRecord(BaseModel):
    """One ensemble (one JSONL line)."""

    id: str  # structural hash of `code`
    index: int  # position in the sampler's order
    families: list[str]  # the experts' families (file names without .py), in slot order
    sampler: Sampler
    k: int
    seed: int
    code: str
    params: int | None = None  # with --evaluate: from the sandbox
    metrics: dict[str, float] | None = None  # with --evaluate
    failure: str | None = None  # with --evaluate: class and message when it failed

    @property
    def accuracy(self) -> float | None:
        return (self.metrics or {}).get("val_accuracy")


@dataclass(frozen=True)
class MoeCorpusOptions:
    k: int = 4
    sampler: Sampler = "stratified"
    count: int = 10
    seed: int = 0
    evaluate: bool = False
    jobs: int = 1
    dataset: str = "digits"
    max_params: int = 2_000_000


def read_moe_records(path: Path) -> list[MoeRecord]:
    """Every complete record; a torn last line (a kill mid-write) is dropped."""
    if not path.exists():
        return []
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            found.append(MoeRecord.model_validate_json(line))
        except ValueError:
            continue
    return found


def build_moe_corpus(sources: dict[str, str], out: Path, opts: MoeCorpusOptions,
                     moe: MoeSettings | None = None,
                     on_record: Callable[[MoeRecord], None] | None = None) -> list[MoeRecord]:
    """Append ensembles to `out` until it holds `opts.count` (or every subset is there);
    resumes a corpus of the same families, k, sampler and seed. Returns all its records."""
    from nasloop.corpus.build import CorpusOptions, _Evaluator
    from nasloop.corpus.records import repair_tail
    from nasloop.memory.novelty import structural_hash
    from nasloop.tasks.ensemble.assemble import assemble
    from nasloop.tasks.ensemble.samplers import sample

    combos = sample(list(sources), opts.k, opts.sampler, opts.count, opts.seed)
    repair_tail(out)
    records = read_moe_records(out)
    for r in records:
        if (r.sampler, r.k, r.seed) != (opts.sampler, opts.k, opts.seed) or (
                r.index >= len(combos) or tuple(sorted(r.families)) != tuple(combos[r.index])):
            raise MoeCorpusError(f"{out} was built with other families or settings "
                                 f"(record {r.index}: {'+'.join(r.families)}, {r.sampler}, "
                                 f"k={r.k}, seed {r.seed})")
    done = {r.index for r in records}
    todo = [(i, c) for i, c in enumerate(combos) if i not in done]
    if not todo:
        return records
    evaluator = _Evaluator(CorpusOptions(
        count=opts.count, seed=opts.seed, jobs=opts.jobs, evaluate=True,
        max_params=opts.max_params, dataset=opts.dataset)) if opts.evaluate else None
    out.parent.mkdir(parents=True, exist_ok=True)
    step = max(1, opts.jobs)
    try:
        with out.open("a", encoding="utf-8") as handle:
            for start in range(0, len(todo), step):
                made = []
                for i, combo in todo[start:start + step]:
                    code = assemble([(f, sources[f]) for f in combo], moe)
                    made.append({"attempt": i, "index": i, "code": code, "families": list(combo)})
                if evaluator is not None:
                    evaluator.run(made)
                for fields in made:
                    metrics = fields.get("metrics")
                    record = MoeRecord(
                        id=structural_hash(fields["code"]), index=fields["index"],
                        families=fields["families"], sampler=opts.sampler, k=opts.k,
                        seed=opts.seed, code=fields["code"], metrics=metrics,
                        params=int(metrics["params"]) if metrics and "params" in metrics
                        else None, failure=fields.get("failure"))
                    handle.write(record.model_dump_json() + "\n")
                    handle.flush()
                    records.append(record)
                    if on_record is not None:
                        on_record(record)
    finally:
        if evaluator is not None:
            evaluator.close()
    return sorted(records, key=lambda r: r.index)
