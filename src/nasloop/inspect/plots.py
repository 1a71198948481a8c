"""The report's charts, one function each, from a run's candidates (SVG strings)."""

from __future__ import annotations

from collections import Counter
from html import escape

from nasloop.inspect.queries import ancestors, outcome_class
from nasloop.inspect.svg import PALETTE, Axes, bar, dot, empty, padded, polyline, svg
from nasloop.memory.archive import Candidate
from nasloop.tasks.base import Objective

SEED, GEN, BEST, OK = "#7f7f7f", "#1f77b4", "#d62728", "#2ca02c"


def _tip(c: Candidate) -> str:
    acc = f"{c.score:.4f}" if c.score is not None else outcome_class(c)
    return f"#{c.id} step {c.step} {c.modification or c.origin}: {acc}"


def metric_over_time(cands: list[Candidate], objective: Objective) -> str:
    """Per-candidate score (dots) and the best so far (step line)."""
    name, title = "metric", f"{objective.metric} per candidate and best so far"
    ok = [c for c in cands if c.status == "ok" and c.score is not None]
    if not ok:
        return empty(name, title, "no candidate trained yet")
    accs = [c.score or 0.0 for c in ok]
    ax = Axes(padded(0, max(c.step for c in cands)), padded(min(accs), max(accs)),
              "step", objective.metric)
    ax.frame()
    best: list[tuple[float, float]] = []
    for c in ok:
        if not best or objective.better(c.score, best[-1][1]):
            best.append((c.step, c.score or 0.0))
    best.append((max(c.step for c in cands), best[-1][1]))
    ax.parts.append(polyline(ax, best, BEST, "best-so-far", step=True))
    for c in ok:
        color = SEED if c.origin.startswith("seed:") else GEN
        ax.parts.append(dot(ax, c.step, c.score or 0.0, color, _tip(c)))
    ax.legend([("best so far", BEST), ("generated", GEN), ("seed", SEED)])
    return svg(name, title, ax.parts)


def valid_rate(cands: list[Candidate], window: int = 5) -> str:
    """Share of candidates that trained, over the last `window` steps."""
    name, title = "valid-rate", f"Valid rate over a sliding window of {window} candidates"
    if not cands:
        return empty(name, title, "no candidate yet")
    pts = []
    for i, c in enumerate(cands):
        recent = cands[max(0, i - window + 1): i + 1]
        pts.append((float(c.step), sum(r.status == "ok" for r in recent) / len(recent)))
    ax = Axes(padded(0, max(c.step for c in cands)), (0.0, 1.05), "step", "valid rate")
    ax.frame()
    ax.parts.append(polyline(ax, pts, GEN, "valid-rate"))
    for x, y in pts:
        ax.parts.append(dot(ax, x, y, GEN, f"step {x:g}: {y:.2f}", r=2.5))
    ax.legend([(f"valid, last {window}", GEN)])
    return svg(name, title, ax.parts)


def outcomes_over_time(cands: list[Candidate], bins: int = 20) -> str:
    """Outcome classes (ok, duplicate, each failure class) per bin of steps, stacked."""
    name, title = "failures", "Outcome classes over time (failure classes, duplicates, ok)"
    if not cands:
        return empty(name, title, "no candidate yet")
    last = max(c.step for c in cands)
    width = max(1, -(-(last + 1) // bins))
    classes = sorted({outcome_class(c) for c in cands}, key=lambda k: (k != "ok", k))
    others = [c for c in PALETTE if c != OK]
    colors = {k: OK if k == "ok" else others[i % len(others)]
              for i, k in enumerate(c for c in classes if c != "ok")}
    colors.setdefault("ok", OK)
    counts: dict[int, Counter[str]] = {}
    for c in cands:
        counts.setdefault(c.step // width, Counter())[outcome_class(c)] += 1
    top = max(sum(v.values()) for v in counts.values())
    ax = Axes((0, (last // width + 1) * width), (0, top * 1.05), "step", "candidates",
              int_y=True)
    ax.frame()
    for b, counter in sorted(counts.items()):
        y = 0.0
        for k in classes:
            if counter[k]:
                x0, x1 = b * width + 0.1 * width, (b + 1) * width - 0.1 * width
                tip = f"steps {b * width}-{(b + 1) * width - 1}: {counter[k]} {k}"
                ax.parts.append(bar(ax, x0, x1, y, y + counter[k], colors[k], tip))
                y += counter[k]
    ax.legend([(k, colors[k]) for k in classes])
    return svg(name, title, ax.parts)


def accuracy_vs_params(cands: list[Candidate], objective: Objective) -> str:
    """The score against parameter count (log scale)."""
    name, title = "acc-params", f"{objective.metric} against parameter count"
    ok = [c for c in cands if c.status == "ok" and c.params and c.score is not None]
    if not ok:
        return empty(name, title, "no candidate trained yet")
    ps = [float(c.params or 1) for c in ok]
    accs = [c.score or 0.0 for c in ok]
    ax = Axes((min(ps) / 1.5, max(ps) * 1.5), padded(min(accs), max(accs)),
              "parameters (log scale)", objective.metric, log_x=True)
    ax.frame()
    for c in ok:
        color = SEED if c.origin.startswith("seed:") else GEN
        ax.parts.append(dot(ax, float(c.params or 1), c.score or 0.0, color, _tip(c)))
    ax.legend([("generated", GEN), ("seed", SEED)])
    return svg(name, title, ax.parts)


def lineage(cands: list[Candidate], best_id: int | None, max_side: int = 12) -> str:
    """The best candidate's ancestry, root seed at the top, with each ancestor's other
    children beside the path (dimmed)."""
    name, title = "lineage", "Lineage of the best candidate"
    by_id = {c.id: c for c in cands}
    if best_id is None or best_id not in by_id:
        return empty(name, title, "no best candidate yet")
    path = ancestors(by_id, best_id)
    row_h, x0, side_x, side_dx = 46, 30, 400, 22
    top = 40
    height = top + 6 + row_h * len(path)
    parts: list[str] = []
    for d, cid in enumerate(path):
        c, y = by_id[cid], top + d * row_h
        if d:
            parts.append(f'<line x1="{x0}" y1="{y - row_h + 7}" x2="{x0}" y2="{y - 7}" '
                         f'stroke="{BEST}" stroke-width="2"/>')
        others = [k for k in cands if k.parent_id == cid and (d + 1 >= len(path)
                                                              or k.id != path[d + 1])]
        for j, k in enumerate(others[:max_side]):
            sx = side_x + j * side_dx
            parts.append(f'<line x1="{side_x - 30}" y1="{y}" x2="{sx}" y2="{y + row_h / 2}" '
                         'stroke="#ccc"/>')
            color = GEN if k.status == "ok" else "#bbb"
            parts.append(f'<circle class="node side" cx="{sx}" cy="{y + row_h / 2}" r="5" '
                         f'fill="{color}"><title>{escape(_tip(k))}</title></circle>')
        if len(others) > max_side:
            parts.append(f'<text x="{side_x + max_side * side_dx}" y="{y + row_h / 2 + 4}">'
                         f'+{len(others) - max_side}</text>')
        fill = BEST if cid == best_id else (SEED if c.origin.startswith("seed:") else GEN)
        acc = f"{c.score:.4f}" if c.score is not None else outcome_class(c)
        label = f"#{c.id} {(c.modification or c.origin)[:34]}  {acc}"
        parts.append(f'<circle class="node path" cx="{x0}" cy="{y}" r="7" fill="{fill}">'
                     f'<title>{escape(_tip(c))}</title></circle>')
        parts.append(f'<text x="{x0 + 14}" y="{y + 4}">{escape(label)}</text>')
    parts.append(f'<text x="{x0 - 8}" y="14" fill="#777">root seed at the top; right: the '
                 'other children of each ancestor (hover for details)</text>')
    body = "".join(parts)
    return (f'<svg class="plot" data-plot="{name}" role="img" viewBox="0 0 640 {height}" '
            f'width="640" height="{height}" xmlns="http://www.w3.org/2000/svg" font-size="11" '
            f'font-family="sans-serif"><title>{title}</title>{body}</svg>')
