"""The orchestrator's handle on one sandbox worker process (optionally inside bubblewrap)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nasloop.sandbox import allocator, bwrap, procs
from nasloop.sandbox.isolation import minimal_env
from nasloop.sandbox.job import EvalJob
from nasloop.sandbox.worker import LineReader

START_TIMEOUT_S = 180.0  # importing torch on a busy 2-core machine can be slow
GRACE_S = 30.0  # the worker enforces the job's limit; this only guards a stuck worker


class WorkerStartError(RuntimeError):
    """The worker could not be started (the sandbox's fault, never the candidate's)."""


class WorkerDied(RuntimeError):
    """The worker exited while a job was running."""


def package_root() -> str:
    """The directory that holds the `nasloop` package (put on the worker's PYTHONPATH)."""
    import nasloop

    return str(Path(nasloop.__file__).resolve().parent.parent)


class WorkerProcess:
    """Start `python -m nasloop.sandbox.worker RUNNER`, send it jobs, kill it with its tree.

    Must be created from a thread that outlives it: the worker's death signal is tied to
    the thread that spawned it."""

    def __init__(self, use_bwrap: bool, runner: str, read_only: Sequence[str] = (),
                 hidden: Sequence[str] = (), slot: int = 0) -> None:
        self.read_only = sorted({str(Path(p).resolve()) for p in read_only})
        self.hidden = sorted({str(Path(p).resolve()) for p in hidden})
        self._err = tempfile.TemporaryFile(prefix="nasloop-worker-")
        self._write_lock = threading.Lock()
        home = "/tmp" if use_bwrap else tempfile.gettempdir()
        env = minimal_env(os.environ, home)
        env["PYTHONPATH"] = package_root()
        env.update(allocator.MALLOC_ENV)  # see nasloop.sandbox.allocator
        env["NASLOOP_SLOT"] = str(slot)  # which CPUs its candidates are pinned to
        env["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"  # is_available() must not poison fork()
        cmd = [sys.executable, "-m", "nasloop.sandbox.worker", runner]
        if use_bwrap:
            path = bwrap.bwrap_path()
            if path is None:
                raise WorkerStartError("bubblewrap is not usable")
            ro = [*self.read_only, sys.prefix, package_root()]
            cmd = [*bwrap.bwrap_args(path, ro, self.hidden), "--chdir", "/tmp", *cmd]
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                env=env, cwd=home, start_new_session=True, close_fds=True)
        except OSError as exc:
            raise WorkerStartError(f"cannot start the sandbox worker: {exc}") from exc
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self._reader = LineReader(self.proc.stdout.fileno())
        ready = self._read(START_TIMEOUT_S)
        if ready is None or "ready" not in ready:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=1)  # what it (or bwrap) said before it died
            tail = self.stderr_tail()  # read before `kill` closes the file
            self.kill()
            raise WorkerStartError(f"the sandbox worker did not start: {tail}")

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """Next JSON line from the worker; None on EOF; TimeoutError when it takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            line = self._reader.pop_line()
            if line is not None:
                return json.loads(line)
            if self._reader.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the sandbox worker stopped answering")
            ready, _, _ = select.select([self._reader.fd], [], [], left)
            if ready:
                self._reader.fill()

    def _send(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def covers(self, paths: Sequence[str], hidden: Sequence[str] = ()) -> bool:
        """True when every path in `paths` is visible inside this worker's sandbox and every
        one in `hidden` hidden."""
        return (all(str(Path(p).resolve()) in self.read_only for p in paths)
                and all(str(Path(p).resolve()) in self.hidden for p in hidden))

    def run(self, job: EvalJob, token: str) -> dict[str, Any]:
        """Run one job and return the raw EvalResult fields."""
        try:
            self._send({"job": job.model_dump(), "token": token})
            msg = self._read(job.time_limit_s + GRACE_S)
        except (BrokenPipeError, ConnectionResetError):
            msg = None
        if msg is None:
            raise WorkerDied(self.stderr_tail())
        return msg["result"]

    def wait_clean(self, timeout: float = GRACE_S) -> None:
        """Wait for the worker to report that the last candidate's processes are gone."""
        msg = self._read(timeout)
        if msg is None:
            raise WorkerDied(self.stderr_tail())
        if not msg.get("clean"):
            raise WorkerDied(f"unexpected message from the worker: {str(msg)[:200]}")
        if msg.get("damaged"):  # replaced before the next candidate
            raise WorkerDied("a candidate changed the worker's limits or templates")

    def cancel(self, token: str) -> None:
        """Ask the worker to kill the candidate running under `token` (if it still is)."""
        with contextlib.suppress(OSError, ValueError):
            self._send({"cancel": token})

    def stderr_tail(self, size: int = 1500) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._err.seek(0, os.SEEK_END)
            self._err.seek(max(0, self._err.tell() - size))
            return self._err.read().decode("utf-8", "replace").strip()
        return ""

    def kill(self) -> None:
        """SIGKILL the worker and everything below it; reap it."""
        if self.proc.poll() is None:
            procs.kill_tree(self.proc.pid, include_root=True, reap=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self._close_files()

    def close(self, timeout: float = 10.0) -> None:
        """End the worker politely (EOF), then by force."""
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _close_files(self) -> None:
        for fh in (self.proc.stdin, self.proc.stdout, self._err):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                fh.close()  # type: ignore[union-attr]
