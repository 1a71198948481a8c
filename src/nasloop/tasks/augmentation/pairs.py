"""Better-than pairs: the prompt shows one transform and its accuracy, the answer is a
different transform that scored strictly higher (by more than a margin); and (better,
worse) preference pairs for DPO-style training. From an evaluated or imported corpus, or
from a run's archive. They feed the LoRA cycles (`nasloop.finetune.cycle`) in the format
the generator is prompted with."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nasloop.agents.base import Instruction
from nasloop.tasks.augmentation.records import TransformRecord

if TYPE_CHECKING:
    from nasloop.finetune.pair import Pair
    from nasloop.finetune.pairs import PairMaker
    from nasloop.memory.archive import Archive

MODIFICATION = "write a different transform that reaches a higher validation accuracy"
PREFERENCE_PROMPT = ("Write a data-augmentation transform file (def transform() returning a "
                     "torchvision transform) that reaches a high validation accuracy.")


def _structure(code: str) -> str:
    from nasloop.memory.novelty import structural_hash

    try:
        return structural_hash(code)
    except SyntaxError:
        return code


def scored(records: Sequence[TransformRecord]) -> list[TransformRecord]:
    """One record per distinct code structure (the first seen) that has an accuracy."""
    found: dict[str, TransformRecord] = {}
    for r in records:
        key = _structure(r.code)
        if r.accuracy is not None and key not in found:
            found[key] = r
    return list(found.values())


def better_than(records: Sequence[TransformRecord], margin: float = 0.0, per_prompt: int = 1,
                seed: int = 0) -> list[tuple[TransformRecord, TransformRecord]]:
    """(prompt, answer) pairs: answer.accuracy > prompt.accuracy + margin, different code,
    up to `per_prompt` distinct answers per prompt (drawn with `seed`), no pair twice."""
    pool = sorted(scored(records), key=lambda r: (r.accuracy, r.id))
    rng = random.Random(f"nasloop-better-{seed}")
    pairs = []
    for i, low in enumerate(pool):
        higher = [r for r in pool[i + 1:] if r.accuracy > low.accuracy + margin]  # type: ignore[operator]
        for answer in rng.sample(higher, min(per_prompt, len(higher))):
            pairs.append((low, answer))
    return pairs


def preference_pairs(records: Sequence[TransformRecord], margin: float = 0.0, seed: int = 0
                     ) -> list[dict[str, Any]]:
    """(better, worse) pairs as {"prompt", "chosen", "rejected", accuracies}: for each
    transform, one worse by more than `margin`."""
    return [{"prompt": PREFERENCE_PROMPT, "chosen": better.code, "rejected": worse.code,
             "chosen_accuracy": better.accuracy, "rejected_accuracy": worse.accuracy}
            for worse, better in better_than(records, margin, 1, seed)]


def better_than_ask(score: float, metric: str = "val_accuracy", parent_id: int = 0
                    ) -> Instruction:
    """The better-than request for a transform that reached `score`: what every pair's
    prompt asks, and what a run asks with `[task] ask = "better-than"`."""
    return Instruction(parent_id=parent_id, problem=f"this transform reached {metric} "
                       f"{score:.4f}", modification=MODIFICATION,
                       expected_effect=f"{metric} above {score:.4f}")


def instruction(record: TransformRecord, metric: str = "val_accuracy") -> Instruction:
    return better_than_ask(float(record.accuracy or 0.0), metric)


def chat_pairs(maker: PairMaker, records: Sequence[TransformRecord], margin: float = 0.0,
               limit: int = 0, seed: int = 0, histories: Sequence[Sequence[str]] = ()
               ) -> list[tuple[Pair, str]]:
    """Better-than pairs rendered by a run's pair maker, with their held-out keys; `limit`
    (0: all) draws that many. Each prompt shows one of `histories` (the recent attempts the
    run's generator was shown; none when empty), so that the pairs are asked as the run asks."""
    from nasloop.finetune.pairs import prompt_key

    found = better_than(records, margin, 1, seed)
    if 0 < limit < len(found):
        found = random.Random(seed).sample(found, limit)
    out = []
    metric = maker.task.objective.metric
    rng = random.Random(seed)
    for low, high in found:
        ins = instruction(low, metric)
        history = list(rng.choice(histories)) if histories else []
        pair = maker.ask(low.code, ins, history, high.code,
                         f"better:{low.id[:8]}>{high.id[:8]}")
        if pair is not None:
            out.append((pair, prompt_key(low.code, ins.modification)))
    return out


def archive_records(archive: Archive) -> list[TransformRecord]:
    """A run's trained transforms as records (accuracy = the candidate's score)."""
    from nasloop.memory.novelty import structural_hash

    return [TransformRecord(id=structural_hash(c.code), code=c.code, origin=f"run:#{c.id}",
                            accuracy=c.score)
            for c in archive.candidates("ok") if c.code and c.score is not None]
