"""The pieces of isolation that need no candidate: environment, bwrap command line, warning."""

from __future__ import annotations

import pytest

from nasloop.sandbox import bwrap
from nasloop.sandbox.isolation import minimal_env


def test_minimal_env_drops_secrets_and_orchestrator_paths() -> None:
    base = {
        "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OPENAI_API_KEY": "sk-x",
        "HF_TOKEN": "hf_x", "AWS_SECRET_ACCESS_KEY": "x", "GOOGLE_APPLICATION_CREDENTIALS": "/k",
        "HOME": "/root", "PWD": "/work/run", "VIRTUAL_ENV": "/work/.venv", "MY_PASSWORD": "p",
        "CUDA_VISIBLE_DEVICES": "1", "MKL_CBWR": "AVX2",
    }
    env = minimal_env(base, "/tmp/cand", threads=2)
    assert env["HOME"] == env["TMPDIR"] == "/tmp/cand"
    assert env["PATH"] == "/usr/bin:/bin" and env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["OMP_NUM_THREADS"] == "2" and env["MKL_CBWR"] == "AVX2"
    leaked = {"OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "MY_PASSWORD",
              "GOOGLE_APPLICATION_CREDENTIALS", "PWD", "VIRTUAL_ENV"} & set(env)
    assert leaked == set()
    assert "/work" not in " ".join(env.values())


def test_bwrap_args_isolate() -> None:
    args = bwrap.bwrap_args("/usr/bin/bwrap", ["/data/cifar"])
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert flag in args
    ro = args.index("--ro-bind")
    assert args[ro + 1:ro + 3] == ["/", "/"]
    assert args[args.index("--tmpfs") + 1] == "/tmp"


def test_missing_bwrap_warns_once(capsys: pytest.CaptureFixture[str],
                                  caplog: pytest.LogCaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bwrap, "_warned", False)
    bwrap.warn_missing()
    bwrap.warn_missing()
    said = capsys.readouterr().err + caplog.text  # stderr, or the log when one is set up
    assert said.count("WITHOUT namespace isolation") == 1
