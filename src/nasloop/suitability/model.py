"""Asking a chat model (hf:/openai:/langchain:) the items, and LoRA-training it on them
through the existing trainer (`nasloop.finetune.lora.train_adapter`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasloop.suitability.items import Item
from nasloop.suitability.scoring import accuracy_table, match_answer

ROLE = "generator"  # the role whose settings (sampling, max tokens) the model is loaded with


def load_model(model: str, max_new_tokens: int = 16) -> Any:
    """The chat backend of a model string, loaded once, answering greedily and briefly."""
    from nasloop.agents.llm.models import ModelPool, parse_model
    from nasloop.config import build_config

    kind, target = parse_model(model, "--model")
    agents = build_config({"agents": {"generator": {"model": model, "temperature": 0.0,
                                                    "max_new_tokens": max_new_tokens}}}).agents
    return ModelPool(agents).get(kind, target, f"agents.{ROLE}")


def ask_items(backend: Any, items: list[Item], seed: int = 0,
              progress: Callable[[int], None] | None = None) -> list[str]:
    """The model's raw answer to each item's prompt."""
    from langchain_core.messages import HumanMessage

    from nasloop.agents.llm.backend import ask

    out = []
    for i, it in enumerate(items):
        out.append(ask(backend, ROLE, [HumanMessage(it.prompt)], seed).text)
        if progress is not None:
            progress(i + 1)
    return out


def evaluate(backend: Any, items: list[Item], seed: int = 0) -> dict[str, Any]:
    """Accuracy table of the model's matched answers (an unmatched answer is wrong)."""
    answers = ask_items(backend, items, seed)
    matched = [match_answer(a, it.dataset_a, it.dataset_b)
               for a, it in zip(answers, items, strict=True)]
    return {**accuracy_table(items, matched), "examples": [
        {"id": it.id, "answer": a, "matched": m, "label": it.label}
        for it, a, m in list(zip(items, answers, matched, strict=True))[:5]]}


def pairs(items: list[Item]) -> list[Any]:
    """Fine-tuning pairs: the item's prompt as the user turn, the label as the answer."""
    from nasloop.finetune.pair import Pair

    return [Pair(messages=({"role": "user", "content": it.prompt},), answer=it.label,
                 source=f"suitability:{it.id}") for it in items]


def train(backend: Any, train_items: list[Item], heldout: list[Item], out: Path, *,
          epochs: int, seed: int = 0, overrides: dict[str, Any] | None = None
          ) -> list[dict[str, Any]]:
    """One LoRA epoch at a time (each continuing the previous adapter), the held-out items
    scored after each; returns one row per epoch (epoch 0: before training)."""
    from nasloop.config import build_config
    from nasloop.finetune.lora import train_adapter

    cfg = build_config({"finetune": {**(overrides or {}), "epochs": 1}}).finetune
    rows = [{"epoch": 0, **_brief(evaluate(backend, heldout, seed))}]
    previous: Path | None = None
    for epoch in range(1, epochs + 1):
        dest = out / f"epoch-{epoch}"
        report = train_adapter(backend, pairs(train_items), dest, cfg, seed=seed + epoch,
                               init=previous)
        previous = dest
        rows.append({"epoch": epoch, "loss": report.losses[-1] if report.losses else None,
                     **_brief(evaluate(backend, heldout, seed))})
    return rows


def _brief(table: dict[str, Any]) -> dict[str, Any]:
    return {"heldout_accuracy": table["overall"]["accuracy"], "n": table["overall"]["n"],
            "unanswered": table["unanswered"], "per_variant": table["per_variant"]}
