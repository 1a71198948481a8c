"""What a restoration run produced, as figures: the seeds and the best candidate (PSNR, SSIM,
parameters, CPU latency) and, with distillation, the teacher against the best student and the
share of the teacher's PSNR the student keeps. Stored in the archive's meta (`task_summary`,
which the run summary carries) and shown as a report section."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nasloop.memory.archive import Archive, Candidate

FIGURES = ("val_psnr", "val_ssim", "params", "latency_ms")
META = "task_summary"  # archive meta key: merged into summary.json


def figures(c: Candidate) -> dict[str, Any]:
    m = c.metrics or {}
    return {"candidate": c.id, "origin": c.origin, **{k: m.get(k) for k in FIGURES}}


def restoration_summary(archive: Archive, teacher: dict[str, Any] | None) -> dict[str, Any]:
    """{"restoration": {seeds, best, distillation?}} from the archive and the teacher."""
    ok = [c for c in archive.candidates() if c.status == "ok" and c.score is not None]
    best = archive.best()
    out: dict[str, Any] = {
        "seeds": [figures(c) for c in ok if c.origin.startswith("seed:")],
        "best": figures(best) if best is not None and best.status == "ok" else None,
    }
    if teacher is not None:
        student = out["best"] or {}
        psnr, params = student.get("val_psnr"), student.get("params")
        out["distillation"] = {
            "teacher_psnr": teacher["val_psnr"], "teacher_ssim": teacher["val_ssim"],
            "teacher_params": teacher["params"], "student_psnr": psnr,
            "student_params": params,
            "retained_share": psnr / teacher["val_psnr"] if psnr is not None else None,
            "params_ratio": teacher["params"] / params if params else None,
        }
    return {"restoration": out}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def section_html(summary: dict[str, Any]) -> str:
    """The HTML of the summary's restoration figures."""
    rest = summary.get("restoration") or {}
    rows = [*rest.get("seeds", []), *([rest["best"]] if rest.get("best") else [])]
    body = "".join(
        f"<tr><td>#{r['candidate']} {escape(str(r['origin']))}</td><td>{_fmt(r['val_psnr'], 2)}"
        f"</td><td>{_fmt(r['val_ssim'])}</td><td>{_fmt(r['params'], 0)}</td>"
        f"<td>{_fmt(r['latency_ms'])}</td></tr>" for r in rows)
    html = ('<table id="restoration"><tr><th>candidate</th><th>PSNR (dB)</th><th>SSIM</th>'
            f"<th>params</th><th>CPU latency (ms)</th></tr>{body}</table>")
    d = rest.get("distillation")
    if d:
        html += (f"<p>Distillation: teacher {_fmt(d['teacher_psnr'], 2)} dB with "
                 f"{d['teacher_params']} parameters; best student {_fmt(d['student_psnr'], 2)} "
                 f"dB ({_fmt(d['retained_share'])} of the teacher's PSNR) with "
                 f"{_fmt(d['student_params'], 0)} parameters ({_fmt(d['params_ratio'], 1)}x "
                 "fewer).</p>")
    return html
