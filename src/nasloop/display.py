"""Terminal output of a search: a live line per candidate and the closing summary (rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from nasloop.memory.archive import Candidate
from nasloop.tasks.base import Objective
from nasloop.textsafe import for_markup, plain

if TYPE_CHECKING:
    from nasloop.final import FinalReport, FinalRow


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


def final_cells(report: FinalReport, row: FinalRow | None) -> list[str]:
    """The cells of one row of the final table (`row` None: the headers)."""
    if row is None:
        return ["proxy rank", "id", report.proxy_metric, f"{report.metric} mean", "std",
                "min..max", "final rank", "params", "failed"]
    fmt = "{:.4f}".format
    failed = [f"{r.seed}: {r.failure_class}" for r in row.runs if r.status != "ok"]
    return [str(row.proxy_rank), f"#{row.id}",
            fmt(row.proxy_score) if row.proxy_score is not None else "-",
            fmt(row.mean) if row.mean is not None else "-",
            fmt(row.std) if row.std is not None else "-",
            f"{fmt(row.min)}..{fmt(row.max)}" if row.min is not None and row.max is not None
            else "-",
            str(row.final_rank) if row.final_rank is not None else "-",
            f"{row.params:,}" if row.params is not None else "-",
            ", ".join(failed) or "-"]


def final_caption(report: FinalReport) -> str:
    """What was trained, and the rank correlation, in one line."""
    p = "undefined" if report.spearman_p is None else f"{report.spearman_p:.3g}"
    rho = ("undefined (fewer than 2 trained, or all final scores equal)"
           if report.spearman is None else
           f"{report.spearman:+.3f} (p {p}, n "
           f"{sum(r.final_rank is not None for r in report.rows)})")
    return (f"top {len(report.rows)} by {report.proxy_metric} ({report.proxy_epochs} "
            f"epoch(s)) trained {report.epochs} epoch(s) with seeds {report.seeds}, data split "
            f"by seed {report.split_seed} as in the search; {report.metric} on the test split "
            f"(never used for selection). Spearman rank correlation, proxy vs final: {rho}")


def final_table(report: FinalReport) -> Table:
    table = Table(title="nasloop final", caption=final_caption(report))
    for head in final_cells(report, None):
        table.add_column(head)
    for row in report.rows:
        table.add_row(*(for_markup(c) for c in final_cells(report, row)))
    return table
