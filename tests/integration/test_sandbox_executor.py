"""LocalExecutor end to end: real worker processes, real forks, real kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasloop.sandbox import procs
from nasloop.sandbox.executor import LocalExecutor
from nasloop.tasks.image_classification.jobs import eval_job

CANDIDATES = Path(__file__).parent.parent / "fixtures" / "candidates"
LEMUR = (CANDIDATES / "lemur_cnn.py").read_text()
BARE = (CANDIDATES / "bare_cnn.py").read_text()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _worker_pythons(pids: list[int]) -> list[int]:
    return [p for p in pids if procs.comm(p) != "bwrap" and procs.alive(p)
            and "nasloop.sandbox.worker" in _cmdline(p)]


@pytest.fixture(scope="module")
def executor() -> Iterator[LocalExecutor]:
    with LocalExecutor(max_in_flight=1, mode="warm", isolation="auto") as ex:
        yield ex
    assert [p for p in procs.descendants(os.getpid()) if procs.alive(p)] == []


def run(ex: LocalExecutor, code: str, **kw: object) -> object:
    kw.setdefault("time_limit_s", 60.0)
    result = ex.result(ex.submit(eval_job(code, 7, **kw)))  # type: ignore[arg-type]
    assert ex.candidate_pids() == []
    return result


@pytest.mark.parametrize("code, form", [(LEMUR, "lemur"), (BARE, "bare")])
def test_good_candidates_train(executor: LocalExecutor, code: str, form: str) -> None:
    r = run(executor, code)
    assert r.status == "ok", r  # type: ignore[attr-defined]
    assert r.form == form  # type: ignore[attr-defined]
    assert 0.0 < r.metrics["val_accuracy"] <= 1.0  # type: ignore[attr-defined]
    assert r.metrics["params"] > 0 and r.metrics["flops"] > 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "code, cls, limit",
    [
        ("class Net(:\n", "syntax", 60.0),
        (BARE.replace("out_shape[0]", "3"), "shape", 60.0),
        (BARE.replace("return self.body(x)", "while True:\n            pass"), "timeout", 3.0),
    ],
)
def test_failures_are_classified(executor: LocalExecutor, code: str, cls: str,
                                 limit: float) -> None:
    r = run(executor, code, time_limit_s=limit)
    assert r.status == "failed"  # type: ignore[attr-defined]
    assert r.failure_class == cls, r  # type: ignore[attr-defined]
    assert r.message  # type: ignore[attr-defined]


def test_result_timeout_and_cancel(executor: LocalExecutor) -> None:
    slow = BARE.replace("return self.body(x)", "import time\n        time.sleep(1000)")
    handle = executor.submit(eval_job(slow, 8, time_limit_s=300))
    with pytest.raises(TimeoutError):
        executor.result(handle, timeout=0.5)
    executor.cancel(handle)
    r = executor.result(handle, timeout=60)
    assert r.failure_class == "infrastructure" and "cancelled" in (r.message or "")
    assert executor.candidate_pids() == []
    assert run(executor, BARE).status == "ok"  # type: ignore[attr-defined]


ORCHESTRATOR = textwrap.dedent("""
    import sys, time
    from nasloop.sandbox.executor import LocalExecutor
    from nasloop.tasks.image_classification.jobs import eval_job
    code = open(sys.argv[1]).read().replace(
        "return self.body(x)", "import time\\n        time.sleep(1000)")
    ex = LocalExecutor(isolation=sys.argv[2])
    ex.submit(eval_job(code, 1, time_limit_s=600))
    print("submitted", flush=True)
    time.sleep(1000)
""")


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["none", "auto"])
def test_sigkilled_orchestrator_leaves_no_orphans(tmp_path: Path, isolation: str) -> None:
    script = tmp_path / "orchestrator.py"
    script.write_text(ORCHESTRATOR)
    orch = subprocess.Popen([sys.executable, str(script), str(CANDIDATES / "bare_cnn.py"),
                             isolation], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert orch.stdout is not None
    assert orch.stdout.readline().strip() == b"submitted"
    tree: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the worker has forked the candidate child
        tree = procs.descendants(orch.pid)
        if len(_worker_pythons(tree)) >= 2:
            break
        time.sleep(0.2)
    assert len(_worker_pythons(tree)) >= 2
    time.sleep(0.5)
    tree = procs.descendants(orch.pid)
    orch.send_signal(signal.SIGKILL)
    orch.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(procs.alive(p) for p in tree):
        time.sleep(0.1)
    assert [p for p in tree if procs.alive(p)] == []


WARMED_PROBE = textwrap.dedent('''
    import sys

    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self, in_shape, out_shape):
            super().__init__()
            warmed = sys.modules["nasloop.tasks.image_classification.warm"].trained == 2
            raise RuntimeError("warmed" if warmed else "cold")

        def forward(self, x):
            return x
''')


def test_a_waiting_candidate_process_is_warmed_by_the_runner(executor: LocalExecutor) -> None:
    # the process forked after a result warms up while no job waits for it; give it time
    said = []
    for _ in range(30):
        said.append(run(executor, WARMED_PROBE).message)  # type: ignore[attr-defined]
        if "warmed" in said[-1]:
            break
        time.sleep(1)
    assert "warmed" in said[-1], said
