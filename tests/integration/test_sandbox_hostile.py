"""The hostile corpus: every candidate under tests/fixtures/hostile, in each isolation mode.

For each: the orchestrator (this process) survives, the failure class is the expected one,
no process of the candidate is left alive, and the next candidate trains normally.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nasloop.sandbox import bwrap, procs
from nasloop.sandbox.executor import LocalExecutor
from nasloop.tasks.image_classification.jobs import eval_job

FIXTURES = Path(__file__).parent.parent / "fixtures"
HOSTILE = sorted(p for p in (FIXTURES / "hostile").iterdir() if p.suffix in (".py", ".txt"))
GOOD = (FIXTURES / "candidates" / "bare_noargs.py").read_text()
OUTSIDE = [Path("/var/tmp/nasloop-hostile-outside.txt"),
           Path("/var/tmp/nasloop-hostile-bypass.txt")]
SECRET = {"NASLOOP_HOSTILE_API_KEY": "s3cr3t", "NASLOOP_HOSTILE_RUN_DIR": "/orchestrator/run"}


def header(path: Path) -> dict[str, str]:
    """The `# key: value` lines at the top of a corpus file."""
    meta: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.startswith("# ") or ":" not in line:
            break
        key, value = line[2:].split(":", 1)
        meta[key.strip()] = value.strip()
    return meta


def stray_sleepers() -> list[int]:
    """`sleep 1000` processes anywhere (what the corpus spawns), wherever they were reparented."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and procs.alive(int(name)):
            try:
                cmd = Path(f"/proc/{name}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd == b"sleep\x001000\x00":
                found.append(int(name))
    return found


def test_corpus_is_big_and_labelled() -> None:
    assert len(HOSTILE) >= 25
    for path in HOSTILE:
        assert "expect" in header(path), path.name


@pytest.fixture(scope="module", params=["bwrap", "none"])
def executor(request: pytest.FixtureRequest) -> Iterator[LocalExecutor]:
    if request.param == "bwrap" and bwrap.bwrap_path() is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap must be usable under CI (apt-get install -y bubblewrap)")
        pytest.skip("bubblewrap is not usable on this machine")
    saved = {k: os.environ.get(k) for k in SECRET}
    os.environ.update(SECRET)
    try:
        with LocalExecutor(isolation=request.param) as ex:  # type: ignore[arg-type]
            yield ex
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert [p for p in procs.descendants(os.getpid()) if procs.alive(p)] == []


@pytest.mark.slow
@pytest.mark.parametrize("path", HOSTILE, ids=[p.stem for p in HOSTILE])
def test_hostile_candidate(executor: LocalExecutor, path: Path) -> None:
    meta = header(path)
    if meta.get("requires") == "bwrap" and executor.isolation != "bwrap":
        pytest.skip("only bubblewrap stops this one (documented limit of isolation='none')")
    for leftover in OUTSIDE:
        leftover.unlink(missing_ok=True)
    limit = float(meta.get("limit", 60))
    job = eval_job(path.read_text(), 1, time_limit_s=limit, memory_limit_mb=4000)
    result = executor.result(executor.submit(job), timeout=limit + 240)
    got = result.failure_class or result.status
    assert got in meta["expect"].split("|"), (
        f"{path.name}: {got}: {result.message}\n{result.traceback_tail}\n{result.log_tail}")
    assert result.message or result.status == "ok"
    assert executor.candidate_pids() == []
    assert stray_sleepers() == []
    assert [p for p in OUTSIDE if p.exists()] == []
    after = executor.result(executor.submit(eval_job(GOOD, 2)), timeout=300)
    assert after.status == "ok", after
    assert executor.candidate_pids() == []
