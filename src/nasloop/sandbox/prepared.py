"""Data prepared outside the sandbox: what a candidate may see, apart from what scores it.

Before a job reaches a worker, the host (trusted code, never the candidate's process) asks the
job's task runner to prepare its data once per key: the runner's `prepare(job, sandbox_dir,
trusted_dir)` writes the candidate-visible files (training split, validation and test
*inputs*) into `sandbox_dir` and the labels that score the candidate into `trusted_dir`. It
runs in a subprocess (the orchestrator need not import torch or the dataset's libraries) and
the result is cached on disk. The sandbox binds `sandbox_dir` read-only and hides the cache
root, so `trusted_dir` is never visible to candidate code; the job carries the sandbox dir as
`data["prepared"]`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from nasloop.sandbox.job import EvalJob

PREPARED = "prepared"  # EvalJob.data key: the sandbox-visible folder of prepared data
SANDBOX, TRUSTED = "sandbox", "trusted"  # the two halves of one prepared folder
TIMEOUT_S = 3600.0


class PrepareError(RuntimeError):
    """The data could not be prepared (never the candidate's fault); one line."""


def cache_root() -> Path:
    """Where prepared data lives (NASLOOP_CACHE, else ~/.cache/nasloop/prepared)."""
    base = os.environ.get("NASLOOP_CACHE") or "~/.cache/nasloop"
    return Path(base).expanduser() / "prepared"


def prepare_key(job: EvalJob) -> str:
    """What prepared data depends on: the runner, the job's data spec and seed."""
    spec = {k: v for k, v in job.data.items() if k != PREPARED}
    text = json.dumps([job.runner, spec, job.seed], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def trusted_dir(job: EvalJob) -> Path:
    """The labels of a prepared job (host side only)."""
    return Path(job.data[PREPARED]).parent / TRUSTED


def prepare_job(job: EvalJob, runner_cls: Any) -> EvalJob:
    """`job` with its data prepared (cached); unchanged for a runner without `prepare`."""
    if getattr(runner_cls, "prepare", None) is None or PREPARED in job.data:
        return job
    folder = cache_root() / prepare_key(job)
    if not (folder / "done").exists():
        _prepare_locked(job, folder)
    return job.model_copy(update={"data": {**job.data, PREPARED: str(folder / SANDBOX)}})


def _prepare_locked(job: EvalJob, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = folder.parent / f"{folder.name}.lock"
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # one preparer per key; the others wait and reuse it
        if (folder / "done").exists():
            return
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
        try:
            (tmp / SANDBOX).mkdir()
            (tmp / TRUSTED).mkdir()
            _run_prepare(job, tmp)
            (tmp / "done").write_text(json.dumps(job.data, sort_keys=True) + "\n")
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _run_prepare(job: EvalJob, tmp: Path) -> None:
    cmd = [sys.executable, "-m", "nasloop.sandbox.prepared", str(tmp)]
    try:
        proc = subprocess.run(cmd, input=job.model_dump_json(), capture_output=True,
                              text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise PrepareError(f"preparing the data took over {TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        lines = [s for s in proc.stderr.strip().splitlines() if s.strip()]
        raise PrepareError(f"preparing the data failed: {lines[-1] if lines else proc.returncode}")


def main() -> None:
    """`python -m nasloop.sandbox.prepared DIR` with a job on stdin: the runner prepares."""
    import importlib

    out = Path(sys.argv[1])
    job = EvalJob.model_validate_json(sys.stdin.read())
    module, _, name = job.runner.partition(":")
    runner_cls = getattr(importlib.import_module(module), name)
    with contextlib.redirect_stdout(sys.stderr):
        runner_cls.prepare(job, out / SANDBOX, out / TRUSTED)


if __name__ == "__main__":
    main()
