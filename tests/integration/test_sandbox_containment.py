"""Containment when nasloop runs as root (as CI does): candidates that disarm the audit hook
and go for the kernel get nowhere, and nothing crosses from one candidate to the next.

Each fixture under tests/fixtures/containment (after a shared head that disarms the audit
hook) prints `REPORT {json}` of what it managed;
the test checks that report and the host (marker files, the worker's limits, stray
processes), then that an honest candidate still trains on the same worker.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nasloop.sandbox import bwrap, procs
from nasloop.sandbox.executor import LocalExecutor
from nasloop.sandbox.isolation import EXTRA_TASKS
from nasloop.sandbox.job import EvalJob
from nasloop.tasks.image_classification.jobs import eval_job

FIXTURES = Path(__file__).parent.parent / "fixtures"
CONTAIN = FIXTURES / "containment"
GOOD = (FIXTURES / "candidates" / "bare_noargs.py").read_text()
MARKS = [Path("/var/tmp/nasloop-contain-mark.txt"), Path("/nasloop-contain-mark.txt")]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["bwrap", "none"])
def executor(request: pytest.FixtureRequest) -> Iterator[LocalExecutor]:
    if request.param == "bwrap" and bwrap.bwrap_path() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap must be usable under CI (apt-get install -y bubblewrap)")
        pytest.skip("bubblewrap is not usable on this machine")
    with LocalExecutor(isolation=request.param) as ex:  # type: ignore[arg-type]
        yield ex
    assert [p for p in procs.descendants(os.getpid()) if procs.alive(p)] == []


def fixture(name: str) -> str:
    """A containment fixture as a whole candidate: shared head, its attack, a model."""
    return "\n".join((CONTAIN / f).read_text() for f in ("_preamble.py", f"{name}.py", "_net.py"))


def run(ex: LocalExecutor, code: str, cid: int = 1, **limits: Any) -> tuple[dict[str, Any], str]:
    """Evaluate `code`; its REPORT and the result's status or failure class."""
    job: EvalJob = eval_job(code, cid, time_limit_s=limits.pop("time_limit_s", 90))
    result = ex.result(ex.submit(job.model_copy(update=limits)), timeout=400)
    report: dict[str, Any] = {}
    for line in (result.log_tail or "").splitlines():
        if line.startswith("REPORT "):
            report = json.loads(line[len("REPORT "):])
    assert report, f"{result.status} {result.failure_class}: {result.message}\n{result.log_tail}"
    return report, result.failure_class or result.status


def worker_pid(ex: LocalExecutor) -> int:
    worker = ex.slots[0].worker
    assert worker is not None and worker.alive()
    return procs.below_bwrap(worker.proc.pid)


def limits_of(pid: int) -> str:
    return Path(f"/proc/{pid}/limits").read_text()


def host_leftovers() -> list[str]:
    """Files the fixtures write to /tmp and /dev/shm, as the host sees them."""
    return [f"{d}/{n}" for d in ("/tmp", "/dev/shm") for n in os.listdir(d)
            if n.startswith(("flood-", "nasloop-leftover"))]


def honest_still_trains(ex: LocalExecutor) -> None:
    after = ex.result(ex.submit(eval_job(GOOD, 99)), timeout=300)
    assert after.status == "ok", after
    assert ex.candidate_pids() == []


def test_remount_and_host_writes_fail(executor: LocalExecutor) -> None:
    for mark in MARKS:
        mark.unlink(missing_ok=True)
    report, got = run(executor, fixture("remount_root"))
    assert got == "ok"
    assert not report["remount_rw"] and not report["remount_var"] and not report["umount_tmp"]
    assert not any(report[str(m)] for m in MARKS)
    assert [m for m in MARKS if m.exists()] == []
    honest_still_trains(executor)


def test_worker_is_out_of_reach(executor: LocalExecutor) -> None:
    executor.result(executor.submit(eval_job(GOOD, 98)), timeout=300)  # a worker is up
    pid = worker_pid(executor)
    before = limits_of(pid)
    report, got = run(executor, fixture("ptrace_worker"))
    assert got == "ok"
    assert not report["ptrace_attach"] and not report["mem_rw"] and not report["prlimit_worker"]
    assert worker_pid(executor) == pid and limits_of(pid) == before
    honest_still_trains(executor)


def test_process_limit_holds(executor: LocalExecutor) -> None:
    if executor.isolation != "bwrap" and os.geteuid() == 0:
        pytest.skip("without bubblewrap a root caller's candidates stay uid 0, which "
                    "RLIMIT_NPROC never stops (documented in the README)")
    report, got = run(executor, fixture("nproc_flood"))
    assert got == "ok"
    # the limit is what its uid already runs (in the sandbox: a handful) plus EXTRA_TASKS
    assert report["forks"] <= EXTRA_TASKS + 16
    assert executor.candidate_pids() == []
    honest_still_trains(executor)


def test_nothing_crosses_to_the_next_candidate(executor: LocalExecutor) -> None:
    token = f"PLANTED-{uuid.uuid4().hex}"
    plant = fixture("plant_leftovers").replace(
        "PLANTED-0123456789abcdef0123456789abcdef", token)
    report, got = run(executor, plant, cid=10)
    assert got == "ok" and report["left"] == ["/tmp", "/dev/shm"]  # it could write there
    report, got = run(executor, fixture("snoop_previous"), cid=11)
    assert got == "ok"
    assert token not in report["found"]
    assert report["listing"]["/dev/shm"] == []
    assert [n for n in report["listing"]["/tmp"] if not n.startswith("nasloop-cand-")] == []
    assert host_leftovers() == []


def test_tmp_and_shm_are_bounded(executor: LocalExecutor) -> None:
    report, got = run(executor, fixture("tmpfs_flood"), tmp_mb=128)
    assert got == "ok"
    assert report["wrote_mb"]["/tmp"] <= 128
    assert report["wrote_mb"]["/dev/shm"] <= 32
    assert host_leftovers() == []  # it wrote to its own tmpfs, not the host's RAM
    honest_still_trains(executor)


def test_threads_are_enforced(executor: LocalExecutor) -> None:
    report, got = run(executor, fixture("threads_64"), threads=1)
    assert got == "ok"
    assert report["cpus"] == 1 and not report["widened"]


def test_kernel_surface_is_closed(executor: LocalExecutor) -> None:
    report, got = run(executor, fixture("seccomp_probe"))
    assert got == "ok"
    assert report["allowed"] == []
    assert report["no_new_privs"] == 1
    assert all(v == 0 for v in report["caps"].values()), report["caps"]
    if executor.isolation == "bwrap" and os.geteuid() == 0:
        assert report["uid"] == 65534  # a root caller's candidates run as nobody
