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
