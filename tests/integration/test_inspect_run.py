"""The inspect commands on a run produced by a real short search (digits, heuristic agents,
the real sandbox, LangGraph with its SQLite checkpointer), followed live while it runs."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import struct
import subprocess
import sys
import threading
import zlib
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from nasloop.commands.inspect_cmd import (
    checkpoints_command,
    report_command,
    runs_command,
    show_command,
    trace_command,
)
from nasloop.config import build_config
from nasloop.inspect import browser
from nasloop.inspect.checkpoints import list_checkpoints
from nasloop.inspect.fork import fork_run
from nasloop.inspect.rundir import InspectError, RunView
from nasloop.runner import drive, new_run, resume_config

pytestmark = pytest.mark.slow

BUDGET = 6
FOLLOW = (
    "import typer; from nasloop.commands.inspect_cmd import trace_command; "
    "typer.run(trace_command)"
)
app = typer.Typer()
for _name, _fn in (("runs", runs_command), ("trace", trace_command), ("show", show_command),
                   ("report", report_command), ("checkpoints", checkpoints_command)):
    app.command(_name)(_fn)


def cli(*args: str | Path) -> SimpleNamespace:
    res = CliRunner().invoke(app, [str(a) for a in args])
    return SimpleNamespace(code=res.exit_code, out=res.stdout, err=res.stderr)


def recorded_steps(run: Path) -> int:
    db = sqlite3.connect(f"{(run / 'archive.sqlite').as_uri()}?mode=ro", uri=True)
    try:
        return int(db.execute("SELECT COUNT(*) FROM triples").fetchone()[0])
    finally:
        db.close()


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def search(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A 6-candidate search; `nasloop trace --follow --json` tails it from another process,
    and for each line it prints we note how many steps the archive held at that moment."""
    out = tmp_path_factory.mktemp("inspect") / "run"
    cfg = build_config({}, {"run.budget": BUDGET})
    new_run(cfg, out)
    follower = subprocess.Popen(
        [sys.executable, "-c", FOLLOW, str(out), "--follow", "--json", "--interval", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: list[tuple[str, int]] = []

    def read() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            lines.append((line, recorded_steps(out)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        drive(cfg, out)
        follower.wait(timeout=120)
        reader.join(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
    return SimpleNamespace(dir=out, lines=lines, follow_rc=follower.returncode,
                           follow_err=follower.stderr.read() if follower.stderr else "")


def trace_json(run: Path, *extra: str) -> list[dict]:
    res = cli("trace", run, "--json", *extra)
    assert res.code == 0, res.err
    return json.loads(res.out)


def test_follow_printed_each_step_while_the_search_ran(search: SimpleNamespace) -> None:
    assert search.follow_rc == 0, search.follow_err
    rows = [json.loads(line) for line, _ in search.lines]
    assert [r["step"] for r in rows] == list(range(BUDGET))
    assert rows == trace_json(search.dir)
    assert search.lines[0][1] < BUDGET  # the first step was out before the last was recorded


def test_runs(search: SimpleNamespace) -> None:
    summary = json.loads((search.dir / "summary.json").read_text())
    res = cli("runs", search.dir.parent, "--json")
    assert res.code == 0, res.err
    [row] = json.loads(res.out)
    assert row["path"] == str(search.dir) and row["status"] == "finished"
    assert row["candidates"] == BUDGET and row["budget"] == BUDGET
    assert row["best_metric"] == summary["best_metric"]
    assert row["best_candidate"] == summary["best_candidate"]
    assert row["valid"] == summary["valid"] and row["valid_rate"] == round(row["valid"] / 6, 4)
    text = cli("runs", search.dir.parent)
    assert text.code == 0 and "finished" in text.out and f"#{row['best_candidate']}" in text.out
    assert f"{summary['best_metric']:.4f}" in text.out
    empty = cli("runs", search.dir / "nothing-here")
    assert empty.code == 0 and "no runs under" in empty.out


def test_trace(search: SimpleNamespace) -> None:
    rows = trace_json(search.dir)
    with RunView(search.dir) as view:
        triples = view.triples()
        cands = view.candidates()
    assert [r["triple"]["outcome"] for r in rows] == [t["outcome"] for t in triples]
    assert [r["candidate_id"] for r in rows] == [c.id for c in cands]
    generated = [r for r in rows if not r["origin"].startswith("seed:")]
    assert generated and all(r["instruction"]["modification"] == r["triple"]["modification"]
                             for r in generated)
    assert all({c["role"] for c in r["calls"]} == {"improver", "generator"} for r in generated)
    improver = trace_json(search.dir, "--role", "improver")
    assert [r["step"] for r in improver] == [r["step"] for r in generated]
    assert all([c["role"] for c in r["calls"]] == ["improver"] for r in improver)
    for klass in {r["outcome"] for r in rows}:
        assert trace_json(search.dir, "--failure", klass) == [
            r for r in rows if r["outcome"] == klass]
    text = cli("trace", search.dir)
    assert text.code == 0
    for r in rows:
        assert f"step {r['step']} #{r['candidate_id']}" in text.out
        assert r["triple"]["outcome"] in text.out
    bad = cli("trace", search.dir, "--role", "critic")
    assert bad.code == 2 and bad.err.strip().count("\n") == 0 and "unknown role" in bad.err
    missing = cli("trace", search.dir / "nope")
    assert missing.code == 2 and "holds no run" in missing.err


def test_show(search: SimpleNamespace) -> None:
    rows = trace_json(search.dir)
    last = rows[-1]
    res = cli("show", search.dir, str(last["candidate_id"]), "--json")
    assert res.code == 0, res.err
    d = json.loads(res.out)
    assert d["id"] == last["candidate_id"] and d["diff"].startswith("--- a/")
    assert d["ancestors"][-1]["id"] == d["id"] and d["ancestors"][0]["outcome"] == "ok"
    assert d["ancestors"][-2]["id"] == d["parent_id"]
    with RunView(search.dir) as view:
        calls = view.agent_calls(d["step"])
    assert [(c["prompt"], c["response"]) for c in d["calls"]] == [
        (c["prompt"], c["response"]) for c in calls]
    text = cli("show", search.dir, str(d["id"]), "--full")
    assert text.code == 0
    for part in ("ancestors (root first)", "diff against the parent", "improver call",
                 "generator call", "class Net"):
        assert part in text.out
    best = json.loads((search.dir / "summary.json").read_text())["best_candidate"]
    code = json.loads(cli("show", search.dir, str(best), "--json").out)["code"]
    assert (search.dir / "best.py").read_text().split("\n", 1)[1] == code
    assert cli("show", search.dir, "999").code == 2


def test_checkpoints(search: SimpleNamespace) -> None:
    res = cli("checkpoints", search.dir, "--json")
    assert res.code == 0, res.err
    rows = json.loads(res.out)
    assert [r["loop_step"] for r in rows] == list(range(BUDGET + 1))
    assert all(r["next"] == ["promote"] for r in rows[1:])  # a no-op without [search.promote]
    with RunView(search.dir) as view:
        cands = [c.id for c in view.candidates()]
    assert [r["candidates"] for r in rows[1:]] == [[c] for c in cands]  # one per cycle
    every = json.loads(cli("checkpoints", search.dir, "--all", "--json").out)
    assert len(every) > 5 * BUDGET and every[-1]["next"] == []
    text = cli("checkpoints", search.dir)
    assert text.code == 0 and "promote" in text.out and "--from-step" in text.out


class _Dom(HTMLParser):
    """Counts the marks inside each chart of a DOM dump."""

    def __init__(self) -> None:
        super().__init__()
        self.plots: dict[str, int] = {}
        self.current: str | None = None
        self.fetching: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "svg" and a.get("data-plot"):
            self.current = a["data-plot"]
            self.plots[self.current] = 0
        elif self.current and tag in ("circle", "rect", "polyline") and a.get("class"):
            self.plots[self.current] += 1
        for key in ("src", "href"):
            if a.get(key):
                self.fetching.append(a[key] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.current = None


def png_pixels(path: Path) -> tuple[int, int, set[tuple[int, int, int]]]:
    """Width, height and the set of colours of an 8-bit RGB(A) PNG (as Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            ihdr = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + n
    w, h, depth, ctype = struct.unpack(">IIBB", ihdr[:10])
    assert depth == 8 and ctype in (2, 6)
    bpp = 4 if ctype == 6 else 3
    raw, stride, prev, colours = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            pr = a + b - c
            pred = (0, a, b, (a + b) // 2,
                    a if abs(pr - a) <= min(abs(pr - b), abs(pr - c))
                    else (b if abs(pr - b) <= abs(pr - c) else c))[f]
            line[i] = (line[i] + pred) & 0xFF
        colours.update(tuple(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return w, h, colours


def test_report_renders_in_headless_chromium(search: SimpleNamespace, tmp_path: Path) -> None:
    html, png = tmp_path / "report.html", tmp_path / "report.png"
    res = cli("report", search.dir, "-o", html, "--png", png, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out) == {"output": str(html), "png": str(png), "plots": [
        "metric", "valid-rate", "failures", "acc-params", "lineage"]}
    page = browser.dump_dom(html)
    assert page.console == []
    dom = _Dom()
    dom.feed(page.stdout)
    assert set(dom.plots) == {"metric", "valid-rate", "failures", "acc-params", "lineage"}
    assert all(n > 0 for n in dom.plots.values()), dom.plots
    assert dom.fetching == []  # nothing to load: no network needed to open it
    assert struct.unpack(">II", png.read_bytes()[16:24]) == (1200, 2400)
    one = tmp_path / "metric.png"
    assert cli("report", search.dir, "-o", html, "--png", one, "--plot", "metric").code == 0
    w, h, colours = png_pixels(one)
    assert (w, h) == (660, 320)
    assert {(0xD6, 0x27, 0x28), (0x1F, 0x77, 0xB4)} <= colours  # best-so-far line, dots


def test_console_errors_are_caught(tmp_path: Path) -> None:
    """The console check above can fail: a page with a script error is reported."""
    bad = tmp_path / "bad.html"
    bad.write_text("<p>x</p><script>console.error('boom'); missingFn();</script>")
    console = browser.dump_dom(bad).console
    assert any("boom" in m for m in console) and any("missingFn" in m for m in console)


def test_fork_from_a_step_leaves_the_original_untouched(
    search: SimpleNamespace, tmp_path: Path
) -> None:
    before = digest(search.dir)
    with RunView(search.dir) as view:
        src_cands = {c.id: c for c in view.candidates()}
    dst = tmp_path / "fork"
    fork_run(search.dir, 4, dst)
    assert digest(search.dir) == before
    with RunView(dst) as view:
        assert [c.step for c in view.candidates()] == [0, 1, 2, 3]
        assert [t["step"] for t in view.triples()] == [0, 1, 2, 3]
        assert {c["step"] for c in view.agent_calls()} <= {0, 1, 2, 3}
        new_id, forked = view.meta("run_id"), view.meta("forked_from")
    with RunView(search.dir) as view:
        old_id = view.meta("run_id")
    assert new_id != old_id and forked["run_id"] == old_id and forked["step"] == 4
    assert list_checkpoints(dst)[-1]["loop_step"] == 4
    assert json.loads((dst / "summary.json").read_text())["status"] == "forked"
    with pytest.raises(InspectError, match="not empty"):
        fork_run(search.dir, 2, dst)
    with pytest.raises(InspectError, match="no checkpoint at loop step 99: .*0, 1, 2, 3"):
        fork_run(search.dir, 99, tmp_path / "fork99")

    drive(resume_config(dst, {"run.budget": 6}), dst)
    assert digest(search.dir) == before
    with RunView(dst) as view:
        after = view.candidates()
    assert [c.step for c in after] == list(range(6))
    for c in after[:4]:  # kept, not trained again
        assert c.eval_attempts == src_cands[c.id].eval_attempts
        assert c.score == src_cands[c.id].score
    assert [r["loop_step"] for r in list_checkpoints(dst)] == list(range(7))
    assert json.loads((dst / "summary.json").read_text())["status"] == "finished"


def test_fork_of_a_batched_run_starts_at_a_cycle(tmp_path: Path) -> None:
    """With run.batch = 2 a cycle holds two steps (seeds and mutants apart): forks start
    where a cycle starts, and the fork goes on in cycles."""
    src = tmp_path / "batched"
    cfg = build_config({}, {"run.budget": 5, "run.batch": 2})
    new_run(cfg, src)
    drive(cfg, src)
    starts = [r["loop_step"] for r in list_checkpoints(src)]
    assert starts == [0, 2, 3, 5]  # seeds 0-1, seed 2, mutants 3-4
    with pytest.raises(InspectError, match="a fork starts where a cycle starts .0, 2, 3, 5."):
        fork_run(src, 4, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    before = digest(src)
    dst = tmp_path / "fork"
    fork_run(src, 3, dst)
    drive(resume_config(dst, {}), dst)
    assert digest(src) == before
    with RunView(dst) as view:
        assert [c.step for c in view.candidates()] == list(range(5))
        assert sorted({c["step"] for c in view.agent_calls()}) == [3, 4]
    forked = list_checkpoints(dst)
    assert [r["loop_step"] for r in forked] == [0, 2, 3, 5]
    assert len(forked[-1]["candidates"]) == 2  # the fork's own mutant cycle
