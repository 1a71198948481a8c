"""A hidden path stays hidden under a read-only bind above it (the interpreter's prefix
above scikit-learn's bundled data), and prepared data inside a hidden path stays visible."""

from __future__ import annotations

from pathlib import Path

from nasloop.sandbox import bwrap


def test_binds_above_a_hidden_path_come_before_its_tmpfs(tmp_path: Path) -> None:
    prefix, cache = tmp_path / "venv", tmp_path / "cache"
    data, prepared = prefix / "sklearn" / "data", cache / "prepared" / "job"
    for d in (data, prepared):
        d.mkdir(parents=True)
    args = bwrap.bwrap_args("/usr/bin/bwrap", [str(prefix), str(prepared)],
                            [str(data), str(cache)])

    def at(*option: str) -> int:
        n = len(option)
        return next(i for i in range(len(args)) if tuple(args[i:i + n]) == option)

    assert at("--ro-bind", str(prefix), str(prefix)) < at("--tmpfs", str(data))
    assert at("--tmpfs", str(cache)) < at("--ro-bind", str(prepared), str(prepared))
