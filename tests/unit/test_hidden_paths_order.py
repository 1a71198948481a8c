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


def test_paths_reached_through_a_link_are_bound_where_they_really_are(tmp_path: Path) -> None:
    """A virtual environment linked into a checkout (bwrap cannot mount onto the link) and
    a dataset folder reached through a link (hidden where its files are)."""
    real_venv, real_data = tmp_path / "real-venv", tmp_path / "real-data"
    for d in (real_venv, real_data):
        d.mkdir()
    (tmp_path / "venv").symlink_to(real_venv)
    (tmp_path / "data").symlink_to(real_data)
    args = bwrap.bwrap_args("/usr/bin/bwrap", [str(tmp_path / "venv")],
                            [str(tmp_path / "data")])
    pairs = {tuple(args[i:i + 3]) for i in range(len(args) - 2)}
    assert ("--ro-bind", str(real_venv), str(real_venv)) in pairs
    assert ("--tmpfs", str(real_data)) in {tuple(args[i:i + 2]) for i in range(len(args) - 1)}
    assert str(tmp_path / "venv") not in args and str(tmp_path / "data") not in args
