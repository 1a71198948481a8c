"""A cycle's steps asked of an agent together, and recorded together.

An agent with `improve_many` / `generate_many` (the LLM ones) gets the whole batch in one
go, so it can ask its model for several answers per call; any other (the heuristic ones)
is asked step by step. A generated batch is recorded in one SQLite transaction: a crash
leaves all of its steps done or none, so a resume asks the same batch again, with the same
seeds, and gets the same answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from nasloop.agents.base import (
    CodeGenerator,
    GenerateRequest,
    GeneratesMany,
    Generation,
    ImproveRequest,
    ImproveResult,
    ImprovesMany,
    PromptImprover,
)
from nasloop.memory.archive import Archive


def improve_all(
    improver: PromptImprover, requests: Sequence[ImproveRequest]
) -> list[ImproveResult]:
    """One result per request, from `improve_many` when the improver has it; asked step by
    step, each request also lists the (parent, modification) pairs of the steps before it in
    the cycle as tried, so one cycle never asks for the same child twice."""
    if isinstance(improver, ImprovesMany):
        results = list(improver.improve_many(list(requests)))
    else:
        results, earlier = [], []
        for r in requests:
            asked = r.model_copy(update={"tried": [*r.tried, *earlier]}) if earlier else r
            results.append(improver.improve(asked))
            got = results[-1].instruction
            if got is not None:
                earlier.append((got.parent_id, got.modification))
    if len(results) != len(requests):
        raise RuntimeError(f"{improver.name} answered {len(results)} of {len(requests)} steps")
    return results


def generate_all(
    generator: CodeGenerator, requests: Sequence[GenerateRequest]
) -> list[tuple[Generation, float]]:
    """(generation, seconds) per request; a batch made together shares its time equally."""
    if not isinstance(generator, GeneratesMany):
        out = []
        for r in requests:
            t0 = time.perf_counter()
            gen = generator.generate(r)
            out.append((gen, time.perf_counter() - t0))
        return out
    t0 = time.perf_counter()
    gens = list(generator.generate_many(list(requests)))
    if len(gens) != len(requests):
        raise RuntimeError(f"{generator.name} answered {len(gens)} of {len(requests)} steps")
    share = (time.perf_counter() - t0) / max(1, len(requests))
    return [(g, share) for g in gens]


@contextmanager
def atomic(archive: Archive) -> Iterator[None]:
    """Writes to the archive inside are kept all together or not at all."""
    db = archive.db  # autocommit connection: an explicit transaction groups the writes
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
