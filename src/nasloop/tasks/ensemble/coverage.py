"""Coverage and yield of a set of evaluated ensembles: how often each family and pair was
tried, and what they gave (mean accuracy, each family's marginal effect)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from html import escape
from statistics import mean
from typing import Any

TOP_PAIRS = 5  # pairs named in the report as co-producing the best ensembles


def coverage(rows: Iterable[tuple[tuple[str, ...], float | None]],
             families: Iterable[str] = ()) -> dict[str, Any]:
    """The figures of (families, accuracy or None) rows; `families` adds those never drawn.

    `marginal[f]` is the mean accuracy of the scored ensembles with f minus that of those
    without it (None when either side is empty)."""
    rows = [(tuple(sorted(fs)), acc) for fs, acc in rows]
    names = sorted(set(families).union(*(fs for fs, _ in rows)))
    appearances = {n: sum(n in fs for fs, _ in rows) for n in names}
    pairs = {f"{a}+{b}": 0 for a, b in itertools.combinations(names, 2)}
    pair_acc: dict[str, list[float]] = {p: [] for p in pairs}
    fam_acc: dict[str, list[float]] = {n: [] for n in names}
    scored = [(fs, acc) for fs, acc in rows if acc is not None]
    for fs, acc in rows:
        for a, b in itertools.combinations(fs, 2):
            pairs[f"{a}+{b}"] += 1
            if acc is not None:
                pair_acc[f"{a}+{b}"].append(acc)
        for n in fs:
            if acc is not None:
                fam_acc[n].append(acc)
    marginal: dict[str, float | None] = {}
    for n in names:
        with_ = [acc for fs, acc in scored if n in fs]
        without = [acc for fs, acc in scored if n not in fs]
        marginal[n] = mean(with_) - mean(without) if with_ and without else None
    accs = [acc for _, acc in scored]
    total = len(rows)
    ranked_pairs = sorted(((mean(v), p) for p, v in pair_acc.items() if v), reverse=True)
    top = max(appearances, key=lambda n: appearances[n]) if names else None
    return {
        "ensembles": total,
        "scored": len(scored),
        "families": len(names),
        "appearances": appearances,
        "most_frequent": top,
        "most_frequent_share": appearances[top] / total if total and top else 0.0,
        "never_drawn": [n for n in names if not appearances[n]],
        "pairs": pairs,
        "pairs_covered": sum(1 for v in pairs.values() if v) / len(pairs) if pairs else 0.0,
        "family_mean_accuracy": {n: mean(v) if v else None for n, v in fam_acc.items()},
        "pair_mean_accuracy": {p: mean(v) if v else None for p, v in pair_acc.items()},
        "marginal": marginal,
        # what the marginals say: the pairs in the best ensembles, the families that lower
        # the mean where they appear (candidates for exclusion)
        "top_pairs": [p for _, p in ranked_pairs[:TOP_PAIRS]],
        "low_yield": sorted((n for n, m in marginal.items() if m is not None and m < 0),
                            key=lambda n: marginal[n]),  # type: ignore[arg-type,return-value]
        "best_accuracy": max(accs) if accs else None,
        "mean_accuracy": mean(accs) if accs else None,
        "best": list(max(scored, key=lambda r: r[1])[0]) if scored else None,
    }


def _f(v: float | None, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _signed(v: float | None) -> str:
    return "-" if v is None else f"{v:+.4f}"


def _yield_line(cov: dict[str, Any]) -> str:
    top = ", ".join(f"{p} ({_f(cov['pair_mean_accuracy'][p])})" for p in cov["top_pairs"])
    low = ", ".join(f"{n} ({_signed(cov['marginal'][n])})" for n in cov["low_yield"])
    return (f"best pairs by mean accuracy: {top or '-'}; low-yield families (negative "
            f"marginal, could be excluded): {low or '-'}")


def coverage_text(cov: dict[str, Any]) -> str:
    """A plain-text report: per family (appearances, mean accuracy, marginal), the pair
    matrix, the headline figures."""
    names = sorted(cov["appearances"])
    width = max([6, *(len(n) for n in names)])
    lines = [f"{cov['ensembles']} ensembles ({cov['scored']} scored) over {cov['families']} "
             f"families; most frequent: {cov['most_frequent']} in "
             f"{cov['most_frequent_share']:.0%}; pairs covered: {cov['pairs_covered']:.0%}; "
             f"best {_f(cov['best_accuracy'])}, mean {_f(cov['mean_accuracy'])}",
             _yield_line(cov),
             "", f"{'family':<{width}}  count  mean acc  marginal"]
    for n in sorted(names, key=lambda n: -(cov["marginal"][n] or -9)):
        lines.append(f"{n:<{width}}  {cov['appearances'][n]:>5}  "
                     f"{_f(cov['family_mean_accuracy'][n]):>8}  "
                     f"{_signed(cov['marginal'][n]):>8}")
    lines += ["", "pair co-occurrence", " " * width + " " + " ".join(f"{i:>3}" for i in
                                                                  range(len(names)))]
    for i, a in enumerate(names):
        cells = []
        for b in names:
            key = f"{min(a, b)}+{max(a, b)}"
            cells.append("  ." if a == b else f"{cov['pairs'].get(key, 0):>3}")
        lines.append(f"{a:<{width}} " + " ".join(cells) + f"  ({i})")
    return "\n".join(lines)


def coverage_html(cov: dict[str, Any]) -> str:
    """The same as an HTML section (a table per family, the pair matrix with mean accuracy
    as the cell's title)."""
    names = sorted(cov["appearances"])
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{cov['appearances'][n]}</td>"
        f"<td>{_f(cov['family_mean_accuracy'][n])}</td>"
        f"<td>{_signed(cov['marginal'][n])}</td></tr>"
        for n in names)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    matrix = []
    for a in names:
        tds = []
        for b in names:
            key = f"{min(a, b)}+{max(a, b)}"
            if a == b:
                tds.append("<td></td>")
            else:
                acc = cov["pair_mean_accuracy"].get(key)
                tds.append(f'<td title="mean accuracy {_f(acc)}">{cov["pairs"].get(key, 0)}</td>')
        matrix.append(f"<tr><th>{escape(a)}</th>{''.join(tds)}</tr>")
    return (f"<p>{cov['ensembles']} ensembles ({cov['scored']} scored) over "
            f"{cov['families']} families; most frequent family: "
            f"{escape(str(cov['most_frequent']))} in {cov['most_frequent_share']:.0%} of them; "
            f"pairs covered: {cov['pairs_covered']:.0%}; best accuracy "
            f"{_f(cov['best_accuracy'])}, mean {_f(cov['mean_accuracy'])}.</p>"
            f"<p>{escape(_yield_line(cov))}.</p>"
            '<table id="moe-families"><tr><th>family</th><th>ensembles</th><th>mean accuracy'
            f"</th><th>marginal effect</th></tr>{rows}</table>"
            f'<h3>Pair co-occurrence</h3><table id="moe-pairs"><tr><th></th>{head}</tr>'
            f"{''.join(matrix)}</table>")
