"""A hundred consecutive candidates leave no process, thread or file descriptor behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nasloop.sandbox import procs
from nasloop.sandbox.executor import LocalExecutor
from nasloop.tasks.image_classification.jobs import eval_job

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOOD = (FIXTURES / "candidates" / "bare_noargs.py").read_text()
HOSTILE = FIXTURES / "hostile"
MIX = [
    (GOOD, "ok"),
    ((HOSTILE / "syntax_error.txt").read_text(), "syntax"),
    ((HOSTILE / "os_exit.py").read_text(), "crash"),
    ((HOSTILE / "fork_bomb.py").read_text(), "forbidden-operation"),
    ((HOSTILE / "detached_grandchild_bypass.py").read_text(), "ok"),
]


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.slow
def test_hundred_candidates_leak_nothing() -> None:
    with LocalExecutor(isolation="auto") as ex:
        def run(i: int) -> None:
            code, expect = MIX[i % len(MIX)]
            r = ex.result(ex.submit(eval_job(code, i)), timeout=300)
            assert (r.failure_class or r.status) == expect, r.message

        for i in range(len(MIX)):  # warm up: worker started, dataset cached
            run(i)
        assert ex.candidate_pids() == []  # also waits until the worker is idle again
        worker = procs.below_bwrap(ex.slots[0].worker.proc.pid)  # type: ignore[union-attr]
        before = (fds(os.getpid()), threads(os.getpid()), fds(worker), threads(worker))
        for i in range(100):
            run(i)
            assert ex.candidate_pids() == []
        after = (fds(os.getpid()), threads(os.getpid()), fds(worker), threads(worker))
        assert ex.slots[0].worker is not None
        assert procs.below_bwrap(ex.slots[0].worker.proc.pid) == worker  # never restarted
    assert after == before
    assert [p for p in procs.descendants(os.getpid()) if procs.alive(p)] == []
