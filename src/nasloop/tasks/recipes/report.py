"""The recipe study shown: a terminal table per model and dataset, and an HTML report with a
heatmap (loss x optimizer) per model and dataset."""

from __future__ import annotations

from html import escape
from typing import Any

from rich.table import Table

from nasloop.tasks.recipes.vocab import LOSSES, OPTIMIZERS


def _grid(summary: dict[str, Any]) -> dict[tuple[str, str], dict[tuple[str, str], dict]]:
    units: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
    for row in summary["table"]:
        units.setdefault((row["model"], row["dataset"]), {})[(row["loss"], row["optimizer"])] = row
    return units


def _cell_text(row: dict | None) -> str:
    if row is None:
        return "-"
    if row["accuracy"] is None:
        return "/".join(row["failures"]) or "failed"
    text = f"{row['accuracy']:.3f}"
    return text + ("*" if row["failures"] else "")


def tables(summary: dict[str, Any]) -> list[Table]:
    """One rich table per (model, dataset): losses down, optimizers across."""
    out = []
    for (model, dataset), cells in _grid(summary).items():
        losses = [x for x in LOSSES if any(k[0] == x for k in cells)]
        best = set(summary["best"].get(f"{model}/{dataset}", []))
        t = Table(title=f"{model} on {dataset}: validation accuracy", box=None)
        t.add_column("loss \\ optimizer")
        for opt in OPTIMIZERS:
            t.add_column(opt, justify="right")
        for loss in losses:
            texts = []
            for opt in OPTIMIZERS:
                row = cells.get((loss, opt))
                text = _cell_text(row)
                texts.append(f"[bold green]{text}[/]" if row and row["recipe"] in best else text)
            t.add_row(loss, *texts)
        out.append(t)
    ranks = Table(title="recipes over all models and datasets", box=None)
    for col in ("recipe", "mean rank", "wins"):
        ranks.add_column(col, justify="left" if col == "recipe" else "right")
    for name, rank in summary["mean_rank"].items():
        ranks.add_row(name, f"{rank:.2f}", str(summary["wins"].get(name, 0)))
    out.append(ranks)
    return out


def _colour(acc: float | None, lo: float, hi: float) -> str:
    if acc is None:
        return "#dddddd"
    f = 0.0 if hi <= lo else (acc - lo) / (hi - lo)
    r, g, b = int(230 - 190 * f), int(240 - 90 * f), int(250 - 120 * f)
    return f"rgb({r},{g},{b})"


def heatmaps_html(summary: dict[str, Any]) -> str:
    """An HTML section: a heatmap per (model, dataset), the ranking, the conclusion."""
    parts = []
    for (model, dataset), cells in _grid(summary).items():
        accs = [r["accuracy"] for r in cells.values() if r["accuracy"] is not None]
        lo, hi = (min(accs), max(accs)) if accs else (0.0, 1.0)
        losses = [x for x in LOSSES if any(k[0] == x for k in cells)]
        head = "".join(f"<th>{escape(o)}</th>" for o in OPTIMIZERS)
        rows = []
        for loss in losses:
            tds = []
            for opt in OPTIMIZERS:
                row = cells.get((loss, opt))
                acc = row["accuracy"] if row else None
                tds.append(f'<td class="heat" style="background:{_colour(acc, lo, hi)}" '
                           f'title="{escape(loss)} + {escape(opt)}">{escape(_cell_text(row))}'
                           "</td>")
            rows.append(f"<tr><th>{escape(loss)}</th>{''.join(tds)}</tr>")
        parts.append(f'<h3>{escape(model)} on {escape(dataset)}</h3><table class="heatmap">'
                     f"<tr><th>loss \\ optimizer</th>{head}</tr>{''.join(rows)}</table>")
    rank_rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{r:.2f}</td><td>{summary['wins'].get(n, 0)}</td></tr>"
        for n, r in summary["mean_rank"].items())
    universal = summary["best_everywhere"]
    verdict = (f"<p>Best (or tied best) on every model and dataset: "
               f"{escape(', '.join(universal))}.</p>" if universal else
               "<p>No single recipe is best on every model and dataset.</p>")
    return ("".join(parts) + '<h3>Ranking</h3><table id="recipe-ranks"><tr><th>recipe</th>'
            f"<th>mean rank</th><th>wins</th></tr>{rank_rows}</table>{verdict}"
            "<p>* some seeds failed; a cell without a number failed on every seed.</p>")
