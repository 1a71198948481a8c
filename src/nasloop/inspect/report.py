"""`nasloop report`: one self-contained HTML file (inline SVG and CSS, no script, no network)."""

from __future__ import annotations

import time
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasloop.inspect import plots
from nasloop.inspect.population import population_section
from nasloop.inspect.queries import outcome_class, run_overview, timeline
from nasloop.inspect.rundir import InspectError, RunView
from nasloop.memory.archive import Candidate
from nasloop.tasks.base import Objective
from nasloop.tasks.image_classification.multidata import per_dataset

if TYPE_CHECKING:
    from nasloop.final import FinalReport
    from nasloop.memory.promotions import Promotion

PLOTS = ("metric", "valid-rate", "failures", "acc-params", "lineage")

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
figure{display:inline-block;margin:8px;vertical-align:top}
figcaption{font-size:13px;color:#555}
table{border-collapse:collapse;font-size:13px;width:100%}
td,th{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:14px}
dl.kv dt{color:#666} pre{font-size:12px;overflow-x:auto;background:#f8f8f8;padding:8px}
.fail{color:#b00} .ok{color:#070} details summary{cursor:pointer;color:#1f5fa8}
"""


def _highlight(code: str, lexer_name: str) -> str:
    """Syntax-highlighted HTML with inline styles (Pygments), or escaped text."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
    except ImportError:  # pragma: no cover - pygments comes with rich
        return f"<pre>{escape(code)}</pre>"
    fmt = HtmlFormatter(noclasses=True, nobackground=True)
    return highlight(code, get_lexer_by_name(lexer_name), fmt)


def charts(cands: list[Candidate], best_id: int | None, window: int,
           objective: Objective) -> dict[str, str]:
    """Every chart of the report, by name."""
    return {
        "metric": plots.metric_over_time(cands, objective),
        "valid-rate": plots.valid_rate(cands, window),
        "failures": plots.outcomes_over_time(cands),
        "acc-params": plots.accuracy_vs_params(cands, objective),
        "lineage": plots.lineage(cands, best_id),
    }


def _overview(ov: dict[str, Any]) -> str:
    keys = ("run_id", "status", "stop_reason", "candidates", "valid", "valid_rate", "failed",
            "duplicates", "best_metric", "best_candidate", "wall_s", "forked_from")
    rows = "".join(f"<dt>{k}</dt><dd>{escape(str(ov.get(k)))}</dd>" for k in keys)
    return f'<dl class="kv">{rows}</dl>'


def _top_table(cands: list[Candidate], k: int, objective: Objective) -> str:
    ok = sorted((c for c in cands if c.status == "ok"),
                key=lambda c: (objective.sort_key(c.score), c.id))[:k]
    datasets = sorted({d for c in ok for d in per_dataset(c.metrics)})  # several datasets
    rows = []
    for rank, c in enumerate(ok, 1):
        code = _highlight(c.code or "", "python")
        diff = _highlight(c.diff, "diff") if c.diff else "<p>(seed: no parent)</p>"
        accs = per_dataset(c.metrics)
        per = "".join(f"<td>{objective.format(accs.get(d))}</td>" for d in datasets)
        rows.append(
            f'<tr class="top"><td>{rank}</td><td>#{c.id}</td><td>{c.step}</td>'
            f"<td>{objective.format(c.score)}</td>{per}<td>{c.params or ''}</td>"
            f"<td>{escape(c.modification or c.origin)}</td>"
            f"<td>{'#' + str(c.parent_id) if c.parent_id is not None else ''}</td>"
            f"<td><details><summary>code</summary>{code}</details>"
            f"<details><summary>diff</summary>{diff}</details></td></tr>"
        )
    per_head = "".join(f"<th>{escape(d)}</th>" for d in datasets)
    head = (f"<tr><th>rank</th><th>id</th><th>step</th><th>{escape(objective.metric)}</th>"
            f"{per_head}<th>params</th><th>modification</th><th>parent</th><th></th></tr>")
    return f'<table id="top-k">{head}{"".join(rows)}</table>'


def _promotions_table(promoted: list[Promotion], cands: list[Candidate],
                      objective: Objective) -> str:
    """`[search.promote]`'s rungs: per promoted candidate its proxy score and, per epochs,
    the mean over the seeds it was trained with (failures named)."""
    from nasloop.memory.promotions import means

    by_id = {c.id: c for c in cands}
    epochs = sorted({p.epochs for p in promoted})
    mean = means(promoted)
    rows = []
    for cid in dict.fromkeys(p.candidate_id for p in promoted):
        cells = []
        for e in epochs:
            runs = [p for p in promoted if p.candidate_id == cid and p.epochs == e]
            n = sum(p.score is not None for p in runs)
            if not runs:
                cells.append("")
            elif n:
                cells.append(f"{objective.format(mean[cid][e])} ({n} seed{'s' * (n > 1)})")
            else:
                cells.append(runs[0].failure_class or runs[0].status)
        proxy = by_id[cid].score if cid in by_id else None
        rows.append(f'<tr class="promoted"><td>#{cid}</td><td>{objective.format(proxy)}</td>'
                    + "".join(f"<td>{escape(v)}</td>" for v in cells) + "</tr>")
    head = ("<tr><th>id</th><th>proxy</th>"
            + "".join(f"<th>{e} epochs</th>" for e in epochs) + "</tr>")
    return (f"<p>Re-trained at larger budgets by successive halving ({escape(objective.metric)},"
            " mean over seeds; a candidate stops at the rung it did not survive).</p>"
            f'<table id="promotions">{head}{"".join(rows)}</table>')


def _final_table(report: FinalReport) -> str:
    """`nasloop final`'s table: proxy rank and score against the longer training's test
    score (mean, spread over seeds), and how far the two rankings agree."""
    from nasloop.display import final_caption, final_cells

    head = "".join(f"<th>{escape(c)}</th>" for c in final_cells(report, None))
    rows = "".join(
        '<tr class="final">' + "".join(f"<td>{escape(v)}</td>" for v in final_cells(report, r))
        + "</tr>" for r in report.rows)
    return (f"<p>{escape(final_caption(report))}</p>"
            f'<table id="final">{head and f"<tr>{head}</tr>"}{rows}</table>')


def _per_dataset_note(accs: dict[str, float]) -> str:
    """A step's accuracy on each dataset (runs on several datasets), under its outcome."""
    if not accs:
        return ""
    text = ", ".join(f"{d} {v:.4f}" for d, v in accs.items())
    return f'<br><small class="per-dataset">{escape(text)}</small>'


def _trace_table(view: RunView) -> str:
    rows = []
    for r in timeline(view):
        cls = "ok" if r["outcome"] == "ok" else "fail"
        msg = escape(r["failure_message"] or "")
        rows.append(
            f'<tr class="step"><td>{r["step"]}</td><td>#{r["candidate_id"]}</td>'
            f'<td>{escape(r["triple"]["problem"])}</td>'
            f'<td>{escape(r["triple"]["modification"])}</td>'
            f'<td class="{cls}">{escape(r["triple"]["outcome"])} {msg}'
            f'{_per_dataset_note(r["per_dataset"])}</td></tr>'
        )
    head = "<tr><th>step</th><th>id</th><th>problem</th><th>modification</th><th>outcome</th></tr>"
    return f'<table id="trace">{head}{"".join(rows)}</table>'


def _cycles_table(rows: list[dict[str, Any]]) -> str:
    from nasloop.finetune.view import COLUMNS, cycle_cells

    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in COLUMNS)
    body = "".join(
        '<tr class="cycle">'
        + "".join(f"<td>{escape(cycle_cells(r)[c])}</td>" for c in COLUMNS)
        + "</tr>"
        for r in rows
    )
    return f'<table id="cycles"><tr>{head}</tr>{body}</table>'


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")


def build_report(run_dir: Path, *, top_k: int = 5, window: int = 5) -> str:
    """The report of a run as one HTML string."""
    with RunView(run_dir) as view:
        ov = run_overview(view)
        cands = view.candidates()
        objective = view.objective()
        figs = charts(cands, ov["best_candidate"], window, objective)
        trace = _trace_table(view)
        cycles = view.cycles()
        extra = _task_sections(view)
        final = view.final()
        promoted = view.promotions()
        population = population_section(view.config(), cands, objective)
    figures = "".join(
        f'<figure id="fig-{n}">{svg}<figcaption>{escape(_caption(svg))}</figcaption></figure>'
        for n, svg in figs.items()
    )
    outcomes = ", ".join(f"{k}: {v}" for k, v in _outcome_counts(cands).items())
    body = (
        f"<h1>nasloop run {escape(str(ov['run_id']))}</h1>"
        f"<p>{escape(str(run_dir))} &middot; generated {time.strftime('%Y-%m-%d %H:%M:%S')}"
        f" &middot; outcomes: {escape(outcomes)}</p>{_overview(ov)}"
        f'<h2>Plots</h2><div id="plots">{figures}</div>'
        f"<h2>Top {top_k} candidates</h2>{_top_table(cands, top_k, objective)}"
        + (f"<h2>Fine-tuning cycles</h2>{_cycles_table(cycles)}" if cycles else "")
        + (f"<h2>{escape(population[0])}</h2>{population[1]}" if population else "")
        + (f"<h2>Promotions</h2>{_promotions_table(promoted, cands, objective)}"
           if promoted else "")
        + (f"<h2>Final test report</h2>{_final_table(final)}" if final else "")
        + "".join(f"<h2>{escape(title)}</h2>{html}" for title, html in extra)
        + f"<h2>Trace</h2>{trace}"
    )
    return page(f"nasloop report {ov['run_id']}", body)


def plot_page(run_dir: Path, name: str, window: int = 5) -> str:
    """A page holding one chart only (for a PNG of that chart)."""
    if name not in PLOTS:
        raise InspectError(f"unknown plot {name!r}: choose one of {', '.join(PLOTS)}")
    with RunView(run_dir) as view:
        ov = run_overview(view)
        svg = charts(view.candidates(), ov["best_candidate"], window, view.objective())[name]
    return page(name, f'<figure id="fig-{name}" style="margin:0">{svg}</figure>').replace(
        "margin:24px auto", "margin:0"
    )


def _task_sections(view: RunView) -> list[tuple[str, str]]:
    """The sections the run's task adds (none when its config no longer validates)."""
    from nasloop.config import ConfigError, build_config
    from nasloop.tasks.registry import build_task

    try:
        task = build_task(build_config(view.config()))
    except (ConfigError, ValueError):
        return []
    return task.report_sections(view.dir)


def _caption(svg: str) -> str:
    start = svg.index("<title>") + len("<title>")
    return svg[start: svg.index("</title>", start)].replace("&amp;", "&")


def _outcome_counts(cands: list[Candidate]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in cands:
        counts[outcome_class(c)] = counts.get(outcome_class(c), 0) + 1
    return dict(sorted(counts.items()))
