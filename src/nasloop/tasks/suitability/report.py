"""The suitability pool as a report section: items per variant, the baselines on the held-out
networks, and how the pool grew cycle by cycle."""

from __future__ import annotations

from html import escape
from typing import Any


def _acc(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def section_html(pool: dict[str, Any]) -> str:
    """HTML of the summary's `suitability` figures."""
    rows = "".join(
        f"<tr><td>{escape(v)}</td><td>{r['items']}</td><td>{r['heldout']}</td>"
        f"<td>{_acc(r['majority'])}</td><td>{_acc(r['rule'])}</td></tr>"
        for v, r in pool.get("per_variant", {}).items())
    growth = ", ".join(f"step {g['step']}: {g['items']}" for g in pool.get("growth", []))
    return (f"<p>{pool['items']} items from {pool['networks']} networks ({pool['train']} train, "
            f"{pool['heldout']} held out) in <code>{escape(pool['items_file'])}</code>.</p>"
            '<table id="suitability"><tr><th>variant</th><th>items</th><th>held out</th>'
            f"<th>majority (held out)</th><th>rule (held out)</th></tr>{rows}</table>"
            f"<p>Pool growth (items after each cycle): {escape(growth) or '-'}</p>")
