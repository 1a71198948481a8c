"""The candidate processes' allocator and warm-up: the worker starts with the malloc
settings, and a pre-forked process warms its heap and runs the runner's warm-up only while no
job is waiting (cut short when one arrives); an auditor's process runs the runner's audit
warm-up instead."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from nasloop.sandbox import allocator, zygote
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


def _warm_spy(calls: list[str], steps: int = 200):  # type: ignore[no-untyped-def]
    def warm(data: object, waiting) -> None:  # type: ignore[no-untyped-def]
        calls.append("start")
        for _ in range(steps):  # 2 s unless cut short
            time.sleep(0.01)
        calls.append("finished")
    return warm


def test_a_warm_up_runs_while_no_job_waits() -> None:
    calls: list[str] = []
    r, w = os.pipe()
    try:
        zygote._warm_until_job(_warm_spy(calls, steps=3), None, r)
    finally:
        os.close(r)
        os.close(w)
    assert calls == ["start", "finished"]
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_warm_up_is_skipped_when_a_job_waits() -> None:
    calls: list[str] = []
    r, w = os.pipe()
    os.write(w, b'{"job": 1}\n')
    try:
        zygote._warm_until_job(_warm_spy(calls), None, r)
    finally:
        os.close(r)
        os.close(w)
    assert calls == []


def test_a_warm_up_is_cut_short_when_its_job_arrives() -> None:
    calls: list[str] = []
    r, w = os.pipe()
    timer = threading.Timer(0.1, lambda: os.write(w, b'{"job": 1}\n'))
    timer.start()
    try:
        zygote._warm_until_job(_warm_spy(calls), None, r)
    finally:
        timer.join()
        os.close(r)
        os.close(w)
    assert calls == ["start"]  # never "finished": cut short, not run to its end
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_a_warm_up_cut_short_leaves_gradients_on() -> None:
    """The interrupt may land where `no_grad().__enter__` has turned gradients off and no
    `with` block will turn them on again; the candidate must still get them on."""
    import torch

    r, w = os.pipe()

    def warm(data: object, waiting) -> None:  # type: ignore[no-untyped-def]
        torch.set_grad_enabled(False)  # what an interrupted __enter__ leaves behind
        os.write(w, b'{"job": 1}\n')
        time.sleep(2)  # cut short by the alarm

    try:
        zygote._warm_until_job(warm, None, r)
        assert torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
        os.close(r)
        os.close(w)


class _Runner:
    """A runner whose warm-ups say which of them ran."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def warm(self, data: object, waiting) -> None:  # type: ignore[no-untyped-def]
        self.calls.append("warm")

    def warm_audit(self, data: object, waiting) -> None:  # type: ignore[no-untyped-def]
        self.calls.append(f"warm_audit waiting={waiting()}")


def test_an_auditors_process_runs_the_runners_audit_warm_up(
        monkeypatch: pytest.MonkeyPatch) -> None:
    touched: list[tuple[int, int]] = []
    monkeypatch.setattr(allocator, "prefault_heap", lambda fd, mb: touched.append((fd, mb)))
    runner = _Runner()
    r, w = os.pipe()
    try:
        zygote._warm_auditor(runner, None, r)
    finally:
        os.close(r)
        os.close(w)
    assert runner.calls == ["warm_audit waiting=False"]  # never the candidate's warm-up
    assert touched == [(r, allocator.AUDIT_PREFAULT_MB)]  # and less heap than a trainer's
    assert allocator.AUDIT_PREFAULT_MB < allocator.PREFAULT_MB


def test_an_auditors_warm_up_is_skipped_when_its_job_waits() -> None:
    runner = _Runner()
    r, w = os.pipe()
    os.write(w, b'{"job": 1}\n')
    try:
        zygote._warm_auditor(runner, None, r)
        zygote._warm_auditor(object(), None, r)  # a runner without one: nothing to run
    finally:
        os.close(r)
        os.close(w)
    assert runner.calls == []
