"""The candidate processes' allocator: the worker starts with the malloc settings, and a
pre-forked process warms its heap only while no job is waiting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from nasloop.sandbox import allocator
from nasloop.sandbox.workerproc import WorkerProcess
from nasloop.tasks.image_classification.jobs import RUNNER


def _touched(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    real = torch.empty

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(int(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "empty", spy)
    return sizes


def test_prefault_touches_the_heap_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _touched(monkeypatch)
    r, w = os.pipe()
    try:
        allocator.prefault_heap(r, mb=4)
    finally:
        os.close(r)
        os.close(w)
    assert sizes == [4 * 2**20]


def test_prefault_is_skipped_when_a_job_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _touched(monkeypatch)
    r, w = os.pipe()
    os.write(w, b'{"job": 1}\n')
    try:
        allocator.prefault_heap(r, mb=4)
    finally:
        os.close(r)
        os.close(w)
    assert sizes == []


def test_the_worker_starts_with_the_malloc_settings() -> None:
    worker = WorkerProcess(use_bwrap=False, runner=RUNNER)
    try:
        raw = Path(f"/proc/{worker.proc.pid}/environ").read_bytes().split(b"\0")
        env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    finally:
        worker.close()
    for key, value in allocator.MALLOC_ENV.items():
        assert env.get(key) == value
