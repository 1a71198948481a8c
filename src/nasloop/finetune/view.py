"""The fine-tuning cycles of a run as rows for `nasloop trace` and `nasloop report`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from nasloop.finetune.store import read_cycle_rows

COLUMNS = (
    "cycle",
    "steps",
    "adapter",
    "valid",
    "mean/best",
    "above",
    "elites",
    "elite_p",
    "rho_s",
    "loss",
)


def read_cycles(db: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every cycle row of an archive, for people (read-only safe; [] without cycles)."""
    rows = read_cycle_rows(db)
    for d in rows:
        if d["train"]:
            d["train"].pop("keys", None)  # hashes for the held-out check, not for people
    return rows


def _f(v: Any, fmt: str = ".3f") -> str:
    return "-" if v is None else format(v, fmt)


def cycle_cells(row: dict[str, Any]) -> dict[str, str]:
    """One cycle as display strings, keyed by COLUMNS."""
    s = row.get("stats") or {}
    t = row.get("train") or {}
    rel = s.get("reliability") or {}
    elites = "-"
    if s:
        elites = str(s.get("novel_elites", 0))
        if s.get("fallback_elites"):
            elites += f" (+{s['fallback_elites']} fallback)"
    above = "-"
    if s.get("share_above") is not None:
        above = f"{s['share_above']:.0%} > {s['threshold']:g}"
    noise = "-"
    if rel:
        noise = f"{rel['sigma2_arch']:.2g}/{rel['sigma2_noise']:.2g}"
    loss = "-"
    if t.get("first_loss") is not None and t.get("last_loss") is not None:
        loss = f"{t['first_loss']:.2f}->{t['last_loss']:.2f}"
    valid = "-"
    if s:
        valid = f"{s['valid']}/{s['generated']} {s['valid_rate']:.0%}"
    rho = _f(rel.get("rho_s"), ".2f")
    if rel:
        rho += f" ({noise})"
    return {
        "cycle": str(row["cycle"]),
        "steps": f"{row['start_step']}-{row['end_step'] - 1}",
        "adapter": Path(row["adapter"]).name if row["adapter"] else "base",
        "valid": valid,
        "mean/best": f"{_f(s.get('mean_metric'))}/{_f(s.get('best_metric'))}",
        "above": above,
        "elites": elites,
        "elite_p": f"{s['elite_probability']:.2f}" if s else "-",
        "rho_s": rho,
        "loss": loss,
    }
