"""Terminal output of a search: a live line per candidate and the closing summary (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from nasloop.memory.archive import Candidate
from nasloop.tasks.base import Objective
from nasloop.textsafe import for_markup, plain


def candidate_line(cand: Candidate, step: int, budget: int, new_best: bool,
                   objective: Objective) -> str:
    """One rich-markup line: step, what was done, to which parent, and what came of it."""
    what = for_markup(f"{plain(cand.modification or cand.origin)[:34]:<34}")
    parent = f"<-#{cand.parent_id}" if cand.parent_id is not None else ""
    head = f"[dim]{step + 1:>3}/{budget}[/] #{cand.id:<3} {what} {parent:<5}"
    if cand.status == "ok":
        star = " [bold green]best[/]" if new_best else ""
        params = f"{(cand.params or 0) / 1e3:.0f}k"
        secs = cand.eval_wall_s or 0.0
        score = objective.format(cand.score)
        return f"{head} [green]{score}[/] {params:>5} {secs:4.1f}s{star}"
    if cand.status == "duplicate":
        return f"{head} [yellow]duplicate[/] of #{cand.duplicate_of}"
    msg = plain(cand.failure_message or "").splitlines()[0][:40] if cand.failure_message else ""
    return f"{head} [red]{for_markup(cand.failure_class or '')}[/] {for_markup(msg)}"


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title="nasloop run", show_header=False, box=None)
    for key in (
        "status",
        "stop_reason",
        "candidates_generated",
        "candidates_evaluated",
        "valid",
        "failed_by_class",
        "duplicates_skipped",
        "valid_generation_rate",
        "best_seed_metric",
        "best_metric",
        "best_candidate",
        "wall_s",
        "train_s",
    ):
        table.add_row(key, for_markup(summary.get(key)))
    return table


def make_console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)
