"""Terminal rendering (rich) of what the queries return."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from nasloop.tasks.image_classification.multidata import metric_key


def _num(v: Any, fmt: str = ".4f") -> str:
    return "-" if v is None else format(v, fmt)


def per_dataset_text(accs: dict[str, float], sep: str = "  ") -> str:
    """`digits 0.8123  digits-16px 0.7012`: a candidate's accuracy on each dataset."""
    return sep.join(f"{escape(d)} {v:.4f}" for d, v in accs.items())


def runs_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="nasloop runs", box=None)
    multi = any(r.get("best_per_dataset") for r in rows)
    cols = ("run", "status", "candidates", "valid rate", "best", "best id", "wall")
    for col in (*cols, "best per dataset") if multi else cols:
        table.add_column(col, justify="right" if col in cols[2:] else "left")
    for r in rows:
        wall = "-" if r["wall_s"] is None else f"{r['wall_s']:.0f}s"
        cells = [
            escape(r["path"]),
            escape(str(r["status"])),
            str(r["candidates"]),
            _num(r["valid_rate"], ".2f"),
            _num(r["best_metric"]),
            "-" if r["best_candidate"] is None else f"#{r['best_candidate']}",
            wall,
        ]
        if multi:
            cells.append(per_dataset_text(r.get("best_per_dataset") or {}, "\n") or "-")
        table.add_row(*cells)
    return table


def outcome_markup(row: dict[str, Any]) -> str:
    klass = row["outcome"]
    if klass == "ok":
        params = f" {row['params'] / 1e3:.1f}k params" if row.get("params") else ""
        return f"[green]ok {_num(row['score'])}[/]{params}"
    if klass == "duplicate":
        return f"[yellow]duplicate[/] of #{row['duplicate_of']}"
    msg = f" {escape(row['failure_message'])}" if row.get("failure_message") else ""
    return f"[red]{escape(klass)}[/]{msg}"


def trace_entry(row: dict[str, Any]) -> list[str]:
    """The lines of one step: candidate and outcome, instruction, triple, agent calls."""
    parent = f" <- #{row['parent_id']}" if row["parent_id"] is not None else ""
    lines = [
        f"[bold]step {row['step']}[/] #{row['candidate_id']}{parent} "
        f"[dim]{escape(row['origin'])}[/]  {outcome_markup(row)}"
    ]
    ins = row.get("instruction")
    t = row["triple"]
    if ins:
        effect = f" [dim](expected: {escape(str(ins['expected_effect']))})[/]" if ins.get(
            "expected_effect") else ""
        lines.append(f"  instruction: {escape(str(ins.get('modification')))}{effect}")
    lines.append(f"  problem:     {escape(t['problem'])}")
    lines.append(f"  modification:{' ' if t['modification'] else ''}{escape(t['modification'])}")
    lines.append(f"  outcome:     {escape(t['outcome'])}")
    if row.get("per_dataset"):
        lines.append(f"  per dataset: {per_dataset_text(row['per_dataset'])}")
    if row.get("promoted"):
        lines.append(f"  promoted:    {promoted_text(row['promoted'])}")
    for c in row["calls"]:
        tokens = ""
        if c.get("tokens_in") is not None or c.get("tokens_out") is not None:
            tokens = f" tokens {c.get('tokens_in') or '?'}->{c.get('tokens_out') or '?'}"
        state = "ok" if c["ok"] else f"[red]failed[/] {escape(c.get('error') or '')}"
        lines.append(
            f"  [cyan]{c['role']}[/] {escape(c['model'])} {c['latency_s']:.2f}s{tokens} {state}"
        )
    return lines


def promoted_text(rows: list[dict[str, Any]]) -> str:
    """Promoted results ([search.promote]) by epochs: '3 ep 0.9125; 9 ep 0.9500 0.9417'."""
    by_epochs: dict[int, list[str]] = {}
    for p in rows:
        value = _num(p["score"]) if p["status"] == "ok" else "failed"
        by_epochs.setdefault(p["epochs"], []).append(value)
    return "; ".join(f"{e} ep {' '.join(v)}" for e, v in sorted(by_epochs.items()))


def show_renderables(d: dict[str, Any], *, full: bool) -> list[RenderableType]:
    """`nasloop show`: summary, lineage, metrics, code, diff, agent calls, log."""
    head = Table(box=None, show_header=False)
    for key in ("id", "step", "origin", "modification", "parent_id", "status", "outcome",
                "form", "score", "params", "failure_class", "failure_message",
                "duplicate_of", "eval_wall_s", "train_s", "eval_attempts"):
        if d.get(key) is not None:
            head.add_row(key, escape(str(d[key])))
    if d.get("children"):
        head.add_row("children", " ".join(f"#{c}" for c in d["children"]))
    if d.get("promoted"):
        head.add_row("promoted", promoted_text(d["promoted"]))
    out: list[RenderableType] = [head]
    chain = "  ->  ".join(
        f"#{a['id']} {escape(a['modification'] or '')} ({_num(a['score'])})"
        for a in d["ancestors"]
    )
    out.append(Panel(Text.from_markup(chain), title="ancestors (root first)", expand=False))
    if d.get("per_dataset"):
        metrics = d.get("metrics") or {}
        per = Table(title="per dataset", box=None)
        for col in ("dataset", "val_accuracy", "test_accuracy", "params", "train_s"):
            per.add_column(col, justify="left" if col == "dataset" else "right")
        for name, acc in d["per_dataset"].items():
            per.add_row(escape(name), f"{acc:.4f}",
                        *(_num(metrics.get(metric_key(m, name)), fmt) for m, fmt in
                          (("test_accuracy", ".4f"), ("params", ".0f"), ("train_s", ".1f"))))
        out.append(per)
    if d.get("metrics"):
        out.append(Text("metrics: " + ", ".join(f"{k}={v:g}" for k, v in d["metrics"].items())))
    if d.get("code"):
        out.append(Panel(Syntax(d["code"], "python", line_numbers=True), title="code"))
    if d.get("diff"):
        out.append(Panel(Syntax(d["diff"], "diff"), title="diff against the parent"))
    for c in d["calls"]:
        prompt, resp = c["prompt"], c["response"]
        if not full:
            prompt, resp = _clip(prompt), _clip(resp)
        title = f"{c['role']} call ({c['model']}, {c['latency_s']:.2f}s)"
        body = Group(Text("prompt:", style="bold"), Text(prompt),
                     Text("response:", style="bold"), Text(resp))
        out.append(Panel(body, title=escape(title)))
    if d.get("traceback_tail"):
        out.append(Panel(Text(d["traceback_tail"]), title="traceback"))
    if d.get("log_tail"):
        out.append(Panel(Text(d["log_tail"]), title="training log (tail)"))
    return out


def _clip(text: str, lines: int = 40) -> str:
    parts = text.splitlines()
    if len(parts) <= lines:
        return text
    return "\n".join(parts[:lines]) + f"\n... ({len(parts) - lines} more lines: --full)"


def checkpoints_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="checkpoints", box=None)
    for col in ("loop step", "super-step", "next", "candidates", "verdict", "checkpoint id"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            "-" if r["loop_step"] is None else str(r["loop_step"]),
            str(r["super_step"]),
            ",".join(r["next"]) or "(end)",
            " ".join(f"#{c}" for c in r["candidates"]) or "-",
            r["verdict"] or "-",
            r["checkpoint_id"],
        )
    return table


def cycles_table(rows: list[dict[str, Any]]) -> Table:
    """The fine-tuning cycles: what each generated, its elites and the adapter after it."""
    from nasloop.finetune.view import COLUMNS, cycle_cells

    table = Table(title="fine-tuning cycles", title_justify="left")
    for col in COLUMNS:
        table.add_column(col.replace("_", " "))
    for row in rows:
        cells = cycle_cells(row)
        table.add_row(*(escape(cells[c]) for c in COLUMNS))
    return table
