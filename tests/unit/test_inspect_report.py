"""Charts and the HTML report, built from a real (small) archive."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from test_inspect_queries import make_run  # sibling test module

from nasloop.inspect import plots
from nasloop.inspect.report import PLOTS, build_report, plot_page
from nasloop.inspect.rundir import InspectError, RunView
from nasloop.inspect.svg import nice_ticks
from nasloop.tasks.base import Objective

NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def cands(tmp_path: Path):
    with RunView(make_run(tmp_path / "run")) as view:
        return view.candidates()


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


@pytest.mark.parametrize(("lo", "hi"), [(0, 1), (0.1, 0.83), (3, 97), (0, 0), (-2, 5)])
def test_nice_ticks_cover_the_range(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 12
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    assert ticks == sorted(ticks) and ticks[0] <= lo and ticks[-1] + steps.pop() > hi


def test_metric_chart_has_a_dot_per_trained_candidate_and_a_rising_best(cands) -> None:
    root = parse(plots.metric_over_time(cands, Objective()))
    assert root.get("data-plot") == "metric"
    dots = root.findall(f"{NS}circle")
    assert len(dots) == sum(c.status == "ok" for c in cands) == 2
    line = root.find(f"{NS}polyline[@class='best-so-far']")
    ys = [float(p.split(",")[1]) for p in line.get("points").split()]
    assert ys == sorted(ys, reverse=True)  # pixels: higher accuracy is further up


def test_valid_rate_failures_params_lineage(cands) -> None:
    rate = parse(plots.valid_rate(cands, window=2))
    assert len(rate.findall(f"{NS}circle")) == len(cands)
    bars = parse(plots.outcomes_over_time(cands)).findall(f"{NS}rect[@class='bar']")
    labels = " ".join(b.find(f"{NS}title").text for b in bars)
    assert len(bars) == 4 and all(k in labels for k in ("ok", "shape", "duplicate"))
    scatter = parse(plots.accuracy_vs_params(cands, Objective()))
    assert len(scatter.findall(f"{NS}circle")) == 2
    tree = parse(plots.lineage(cands, best_id=2))
    path = tree.findall(f"{NS}circle[@class='node path']")
    side = tree.findall(f"{NS}circle[@class='node side']")
    assert len(path) == 2 and len(side) == 1  # the seed's other child, beside the path


def test_charts_of_an_empty_run_say_so() -> None:
    acc = Objective()
    for svg in (plots.metric_over_time([], acc), plots.valid_rate([]), plots.outcomes_over_time([]),
                plots.accuracy_vs_params([], acc), plots.lineage([], None)):
        assert parse(svg).find(f"{NS}text[@class='empty']") is not None


def test_report_is_self_contained(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    html = build_report(run, top_k=1)
    assert html.count('class="plot"') == len(PLOTS)
    assert all(f'data-plot="{p}"' in html for p in PLOTS)
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert html.count('<tr class="top">') == 1 and html.count('<tr class="step">') == 4
    assert "mat1 and mat2" in html  # the failure is in the trace table


def test_plot_page_holds_one_chart(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run")
    assert plot_page(run, "lineage").count('class="plot"') == 1
    with pytest.raises(InspectError, match="unknown plot"):
        plot_page(run, "pie")
