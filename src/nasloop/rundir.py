"""The files of a run directory: the one owner of their names.

Every module that reads or writes a run's files asks `RunDir` for the path, so a name is
written here once. The archive is the single source of truth; everything else in the
directory is derived from it (summary, best candidate) or belongs to one subsystem
(checkpoints to LangGraph, adapters to the fine-tuning cycles).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class RunLocked(Exception):
    """Another process writes this run; the message names its pid."""


@dataclass(frozen=True)
class RunDir:
    """One run directory (which may not exist yet)."""

    path: Path

    ARCHIVE = "archive.sqlite"  # candidates, agent calls, triples (nasloop.memory.archive)
    CHECKPOINTS = "checkpoints.sqlite"  # LangGraph SqliteSaver
    CONFIG = "config.json"  # the resolved config the run uses (resume reads it back)
    SUMMARY = "summary.json"  # counters and best result
    BEST = "best.py"  # the best candidate's code
    ADAPTERS = "adapters"  # fine-tuning cycles' LoRA adapters, one folder per cycle
    LOCK = "run.lock"  # held by the one process that writes the run
    FINAL = "final.json"  # `nasloop final`: the top candidates trained longer, test split

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def archive(self) -> Path:
        return self.path / self.ARCHIVE

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def config(self) -> Path:
        return self.path / self.CONFIG

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def best(self) -> Path:
        return self.path / self.BEST

    @property
    def adapters(self) -> Path:
        return self.path / self.ADAPTERS

    @property
    def final(self) -> Path:
        return self.path / self.FINAL

    @property
    def lock(self) -> Path:
        return self.path / self.LOCK

    def holds_run(self) -> bool:
        """True when the directory holds a run (its archive exists)."""
        return self.archive.exists()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the run's exclusive write lock for the block (one writer per run).

        Raises RunLocked naming the holder's pid when another process holds it. The lock is
        an flock on `run.lock`: the kernel drops it when the holder dies, even by kill -9.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
                raise RunLocked(f"{self.path} is being written by another nasloop process "
                                f"(pid {holder}); wait for it to finish or stop it") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock
