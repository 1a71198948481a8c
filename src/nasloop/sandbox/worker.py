"""The sandbox worker: `python -m nasloop.sandbox.worker`.

It imports torch and the trainer once, then reads one JSON message per line on stdin:
`{"job": {...EvalJob...}}` runs a candidate in a freshly forked child and answers one line
`{"result": {...EvalResult...}}` on stdout; `{"cancel": TOKEN}` kills the running candidate sent
with that `"token"`.
EOF on stdin ends the worker. The worker enforces the wall-clock limit, kills the child's
whole tree afterwards (it is a child subreaper, so detached grandchildren come back to it)
and dies with its parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import time
from typing import Any

from nasloop.sandbox import procs
from nasloop.sandbox.classify import classify_exit
from nasloop.sandbox.failures import FailureClass

RESULT_CAP = 4 * 2**20
LOG_TAIL = 2000


class LineReader:
    """Unbuffered line reader over a raw fd, so select() on the fd stays truthful."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.eof = False

    def pop_line(self) -> bytes | None:
        if b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            return line
        return None

    def fill(self) -> None:
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.eof = True
        self.buf += chunk

    def readline(self) -> bytes | None:
        """Block until a full line (None on EOF)."""
        while True:
            line = self.pop_line()
            if line is not None or self.eof:
                return line
            self.fill()


class Worker:
    """State of one worker process: its dataset cache and protocol pipes."""

    def __init__(self, out_fd: int) -> None:
        self.out_fd = out_fd
        self.reader = LineReader(0)
        self.cache: dict[tuple[str, str | None, int], Any] = {}
        self.in_pidns = os.environ.get("NASLOOP_PIDNS") == "1"
        self.cancelled: set[str] = set()  # tokens cancelled before their job arrived

    def send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.out_fd, data):]

    def splits(self, name: str, data_dir: str | None, seed: int) -> Any:
        from nasloop.sandbox.datasets import load_dataset

        key = (name, data_dir, seed)
        if key not in self.cache:
            if len(self.cache) >= 2:
                self.cache.pop(next(iter(self.cache)))
            self.cache[key] = load_dataset(name, data_dir, seed)
        return self.cache[key]

    def cleanup(self) -> None:
        """Kill everything the candidate left: descendants, and in a private pid
        namespace every process but pid 1 and this worker."""
        procs.kill_tree(os.getpid())
        if self.in_pidns:
            for _ in range(20):
                pids = [p for p in procs.namespace_pids() if procs.alive(p)]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                procs.reap_children()
                time.sleep(0.005)

    def run(self, raw: dict[str, Any], token: str = "") -> dict[str, Any]:
        from nasloop.sandbox.job import EvalJob

        t0 = time.perf_counter()
        job = EvalJob.model_validate(raw)
        if token and token in self.cancelled:
            return _failed(job, FailureClass.INFRASTRUCTURE, "cancelled by the orchestrator")
        try:
            splits = self.splits(job.dataset, job.data_dir, job.seed)
        except Exception as exc:  # noqa: BLE001 - reported, not the candidate's fault
            return {"candidate_id": job.candidate_id, "status": "failed",
                    "failure_class": FailureClass.INFRASTRUCTURE.value,
                    "message": f"dataset: {exc}"}
        tmp = tempfile.mkdtemp(prefix=f"nasloop-c{job.candidate_id}-")
        log_path = os.path.join(tmp, "candidate.log")
        try:
            result = self._fork_and_wait(job, splits, tmp, log_path, token)
            result["log_tail"] = _tail(log_path)
        finally:
            self.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)
        result["wall_s"] = time.perf_counter() - t0
        return result

    def _fork_and_wait(self, job: Any, splits: Any, tmp: str, log_path: str, token: str
                       ) -> dict[str, Any]:
        read_fd, write_fd = os.pipe()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the candidate child; never returns
            _child(job, splits, tmp, log_path, log_fd, write_fd)
        os.close(write_fd)
        os.close(log_fd)
        data, status, timed_out, cancelled = self._wait(pid, read_fd, job.time_limit_s, token)
        os.close(read_fd)
        if cancelled:
            return _failed(job, FailureClass.INFRASTRUCTURE, "cancelled by the orchestrator")
        if timed_out:
            return _failed(job, FailureClass.TIMEOUT,
                           f"wall-clock limit of {job.time_limit_s:g} s exceeded; killed")
        if data:
            try:
                return json.loads(data)
            except ValueError:
                return _failed(job, FailureClass.CRASH, "the candidate corrupted its result")
        code = os.waitstatus_to_exitcode(status) if status is not None else -9
        cls, msg = classify_exit(code, timed_out=False)
        return _failed(job, cls, msg)

    def _wait(self, pid: int, read_fd: int, limit: float, token: str
              ) -> tuple[bytes, int | None, bool, bool]:
        """Wait for the child, its result and cancel messages until the deadline."""
        deadline = time.monotonic() + limit
        pidfd = os.pidfd_open(pid)
        data = b""
        status: int | None = None
        timed_out = cancelled = False
        stdin_open = not self.reader.eof
        try:
            while status is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                fds = [pidfd, read_fd] + ([0] if stdin_open else [])
                ready, _, _ = select.select(fds, [], [], left)
                if read_fd in ready:
                    chunk = os.read(read_fd, 65536)
                    if len(data) < RESULT_CAP:
                        data += chunk
                if 0 in ready:
                    self.reader.fill()
                    stdin_open = not self.reader.eof
                    line = self.reader.pop_line()
                    if not stdin_open or (line and json.loads(line).get("cancel") == token):
                        cancelled = True
                        break
                if pidfd in ready:
                    _, status = os.waitpid(pid, 0)
            if status is None:
                procs.kill_tree(os.getpid())
                with contextlib.suppress(ChildProcessError):
                    _, status = os.waitpid(pid, 0)
            os.set_blocking(read_fd, False)
            with contextlib.suppress(BlockingIOError):
                while len(data) < RESULT_CAP and (chunk := os.read(read_fd, 65536)):
                    data += chunk
        finally:
            os.close(pidfd)
        return data, status, timed_out, cancelled


def _failed(job: Any, cls: FailureClass, msg: str) -> dict[str, Any]:
    return {"candidate_id": job.candidate_id, "status": "failed",
            "failure_class": cls.value, "message": msg}


def _tail(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - LOG_TAIL))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    return text or None


def _child(job: Any, splits: Any, tmp: str, log_path: str, log_fd: int, write_fd: int) -> None:
    """Body of the forked candidate process: isolate, run, write the result, _exit."""
    code = 0
    try:
        from nasloop.sandbox import isolation
        from nasloop.sandbox.trainer import run_job

        out = isolation.setup_child(
            tmp, log_fd, write_fd, job.memory_limit_mb,
            job.time_limit_s * (max(job.threads, 1) + 1), job.device, job.threads,
            owned=[tmp, log_path])
        import torch

        torch.set_num_threads(max(job.threads, 1))
        violations = isolation.install_audit_hook([tmp], allow_ctypes=job.device != "cpu")
        result = run_job(job, splits)
        if violations and result.get("failure_class") != FailureClass.FORBIDDEN.value:
            result.update(status="failed", failure_class=FailureClass.FORBIDDEN.value,
                          message=f"forbidden operation: {violations[0]}")
        data = json.dumps(result).encode()
        while data:
            data = data[os.write(out, data):]
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        code = 70
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _on_term(signum: int, frame: Any) -> None:
    procs.kill_tree(os.getpid())
    os._exit(0)


def main() -> None:
    """Entry point: handshake, then serve jobs until EOF on stdin."""
    procs.prctl(procs.PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    procs.prctl(procs.PR_SET_CHILD_SUBREAPER, 1)
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    import torch

    torch.set_num_threads(1)  # no thread pool in the worker: forking after one is unsafe
    from nasloop.sandbox import trainer

    trainer.preload()
    worker = Worker(out_fd)
    worker.send({"ready": os.getpid()})
    while True:
        line = worker.reader.readline()
        if line is None:
            break
        msg = json.loads(line)
        if "cancel" in msg:
            worker.cancelled.add(str(msg["cancel"]))
        if "job" in msg:
            try:
                worker.send({"result": worker.run(msg["job"], str(msg.get("token", "")))})
            except Exception as exc:  # noqa: BLE001 - the worker itself must keep serving
                cid = msg["job"].get("candidate_id", -1)
                worker.send({"result": {"candidate_id": cid, "status": "failed",
                                        "failure_class": FailureClass.INFRASTRUCTURE.value,
                                        "message": f"worker error: {exc!r}"}})
    worker.cleanup()


if __name__ == "__main__":
    main()
