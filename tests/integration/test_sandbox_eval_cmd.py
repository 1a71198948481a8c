"""`nasloop eval FILE` through a real sandbox worker."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from nasloop.commands.eval_cmd import eval_command

FIXTURES = Path(__file__).parent.parent / "fixtures"

app = typer.Typer()
app.command("eval")(eval_command)


@app.callback()
def _root() -> None:
    """Makes `eval` a sub-command, as in the real CLI."""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.output


def test_good_candidate_json_exit_0() -> None:
    code, out = invoke(str(FIXTURES / "candidates" / "bare_noargs.py"), "--json")
    assert code == 0, out
    result = json.loads(out[out.index("{"):])
    assert result["status"] == "ok" and result["form"] == "bare"
    assert 0.0 < result["metrics"]["val_accuracy"] <= 1.0


def test_failed_candidate_exit_1() -> None:
    code, out = invoke(str(FIXTURES / "hostile" / "wrong_output_shape.py"), "--epochs", "1")
    assert code == 1, out
    assert "failure class: shape" in out
    assert "output shape" in out


def test_bad_input_exit_2(tmp_path: Path) -> None:
    code, out = invoke(str(tmp_path / "missing.py"))
    assert code == 2 and "cannot read" in out
    code, out = invoke(str(FIXTURES / "candidates" / "bare_noargs.py"), "--dataset", "nope")
    assert code == 2 and "unknown dataset 'nope'" in out


def test_many_files_check_only_json_lines(tmp_path: Path) -> None:
    files = [FIXTURES / "candidates" / n for n in
             ("bare_noargs.py", "lemur_cnn.py", "lemur_rgb_only.py", "lemur_single_criterion.py")]
    code, out = invoke(*map(str, files), "--check-only", "--jobs", "2", "--json")
    assert code == 1, out  # the 3-channel model does not fit digits
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [r["file"] for r in rows] == [str(f) for f in files]
    status = {Path(r["file"]).name: (r["status"], r["failure_class"]) for r in rows}
    assert status["lemur_rgb_only.py"] == ("failed", "shape")
    assert all(s == ("ok", None) for n, s in status.items() if n != "lemur_rgb_only.py")
    assert all("val_accuracy" not in r["metrics"] and r["metrics"]["params"] > 0
               for r in rows if r["status"] == "ok")
    ok, rgb = invoke(str(files[2]), "--dataset", "digits-rgb", "--json")
    assert ok == 0, rgb
