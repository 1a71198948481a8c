"""Small, dependency-free SVG charts for the HTML report (drawn in Python, no JavaScript)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

W, H = 640, 300
ML, MR, MT, MB = 60, 150, 16, 44  # margins; the right one holds the legend
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [round(start + i * step, 10) for i in range(int((hi - start) / step) + 2)
            if start + i * step <= hi + 1e-9 * step]


def _fmt(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


@dataclass
class Axes:
    """Maps data to pixels and draws the frame, ticks, labels and legend."""

    x: tuple[float, float]
    y: tuple[float, float]
    xlabel: str
    ylabel: str
    log_x: bool = False
    int_y: bool = False  # counts: whole-number ticks only
    parts: list[str] = field(default_factory=list)

    def _tx(self, v: float) -> float:
        return math.log10(max(v, 1e-12)) if self.log_x else v

    def px(self, v: float) -> float:
        lo, hi = (self._tx(self.x[0]), self._tx(self.x[1]))
        span = (hi - lo) or 1.0
        return ML + (self._tx(v) - lo) / span * (W - ML - MR)

    def py(self, v: float) -> float:
        span = (self.y[1] - self.y[0]) or 1.0
        return H - MB - (v - self.y[0]) / span * (H - MT - MB)

    def frame(self) -> None:
        p = self.parts
        p.append(f'<rect x="{ML}" y="{MT}" width="{W - ML - MR}" height="{H - MT - MB}" '
                 'fill="none" stroke="#999"/>')
        for v in nice_ticks(*self.y):
            if self.int_y and v != int(v):
                continue
            if self.y[0] - 1e-9 <= v <= self.y[1] + 1e-9:
                y = self.py(v)
                p.append(f'<line x1="{ML}" x2="{W - MR}" y1="{y:.1f}" y2="{y:.1f}" '
                         'stroke="#eee"/>')
                p.append(f'<text x="{ML - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(v)}</text>')
        for v in self._xticks():
            x = self.px(v)
            p.append(f'<text x="{x:.1f}" y="{H - MB + 16}" text-anchor="middle">{_fmt(v)}</text>')
        p.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 6}" text-anchor="middle">'
                 f'{escape(self.xlabel)}</text>')
        p.append(f'<text transform="translate(14 {(MT + H - MB) / 2}) rotate(-90)" '
                 f'text-anchor="middle">{escape(self.ylabel)}</text>')

    def _xticks(self) -> list[float]:
        if not self.log_x:
            return [v for v in nice_ticks(*self.x) if self.x[0] <= v <= self.x[1]]
        lo, hi = math.floor(math.log10(self.x[0])), math.ceil(math.log10(self.x[1]))
        decades = [10.0**e for e in range(lo, hi + 1)]
        ticks = [v for v in decades if self.x[0] <= v <= self.x[1]]
        if len(ticks) < 3:  # a narrow range: 1-2-5 steps within the decades
            ticks = [m * v for v in decades for m in (1, 2, 5) if self.x[0] <= m * v <= self.x[1]]
        return ticks

    def legend(self, entries: Sequence[tuple[str, str]]) -> None:
        for i, (label, color) in enumerate(entries):
            y = MT + 8 + i * 18
            self.parts.append(f'<rect x="{W - MR + 12}" y="{y - 8}" width="10" height="10" '
                              f'fill="{color}"/><text x="{W - MR + 28}" y="{y + 1}">'
                              f'{escape(label)}</text>')


def svg(name: str, title: str, body: list[str]) -> str:
    """A finished chart: `data-plot` names it, `role=img` and `<title>` describe it."""
    return (f'<svg class="plot" data-plot="{name}" role="img" viewBox="0 0 {W} {H}" '
            f'width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg" font-size="11" '
            f'font-family="sans-serif"><title>{escape(title)}</title>{"".join(body)}</svg>')


def empty(name: str, title: str, why: str) -> str:
    return svg(name, title, [f'<text class="empty" x="{W / 2}" y="{H / 2}" '
                             f'text-anchor="middle">{escape(why)}</text>'])


def padded(lo: float, hi: float, frac: float = 0.05) -> tuple[float, float]:
    pad = (hi - lo) * frac or max(abs(hi) * frac, 0.5)
    return lo - pad, hi + pad


def polyline(ax: Axes, pts: Sequence[tuple[float, float]], color: str, cls: str,
             step: bool = False) -> str:
    coords: list[str] = []
    for i, (x, y) in enumerate(pts):
        if step and i:
            coords.append(f"{ax.px(x):.1f},{ax.py(pts[i - 1][1]):.1f}")
        coords.append(f"{ax.px(x):.1f},{ax.py(y):.1f}")
    return (f'<polyline class="{cls}" fill="none" stroke="{color}" stroke-width="2" '
            f'points="{" ".join(coords)}"/>')


def dot(ax: Axes, x: float, y: float, color: str, tip: str, r: float = 4) -> str:
    return (f'<circle class="pt" cx="{ax.px(x):.1f}" cy="{ax.py(y):.1f}" r="{r}" '
            f'fill="{color}" fill-opacity="0.8"><title>{escape(tip)}</title></circle>')


def bar(ax: Axes, x0: float, x1: float, y0: float, y1: float, color: str, tip: str) -> str:
    left, right = ax.px(x0), ax.px(x1)
    top, bottom = ax.py(y1), ax.py(y0)
    return (f'<rect class="bar" x="{left:.1f}" y="{top:.1f}" width="{max(right - left, 1):.1f}" '
            f'height="{max(bottom - top, 0):.1f}" fill="{color}"><title>{escape(tip)}</title>'
            '</rect>')
