"""The sandbox worker: `python -m nasloop.sandbox.worker RUNNER`.

It imports torch and the task runner (RUNNER, "module:Class") once, preloads it, then
reads one JSON message per line on stdin:
`{"job": {...EvalJob...}}` runs a candidate in a freshly forked child and answers one line
`{"result": {...EvalResult...}}` on stdout; `{"cancel": TOKEN}` kills the running candidate sent
with that `"token"`.
EOF on stdin ends the worker. The worker enforces the wall-clock limit, kills the child's
whole tree afterwards (it is a child subreaper, so detached grandchildren come back to it)
and dies with its parent.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import sys
import time
from typing import Any

from nasloop.sandbox import audit, confine, forkserver, procs, tensorfile
from nasloop.sandbox.classify import classify_exit
from nasloop.sandbox.failures import FailureClass
from nasloop.sandbox.zygote import Zygote, ZygoteKey, spawn_zygote, zygote_key

RESULT_CAP = 256 * 2**20  # one result line, outputs or a model graph (not its tensors) included
LOG_TAIL = 2000


class LineReader:
    """Unbuffered line reader over a raw fd, so select() on the fd stays truthful.

    A line can be a few hundred MB (a model graph, restored images): the buffer grows in
    place and each new chunk is searched for the end of the line once."""

    CHUNK = 2**20

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = bytearray()
        self.scanned = 0  # leading bytes of buf known to hold no newline
        self.eof = False

    def pop_line(self) -> bytes | None:
        end = self.buf.find(b"\n", self.scanned)
        if end < 0:
            self.scanned = len(self.buf)
            return None
        line = bytes(self.buf[:end])
        del self.buf[:end + 1]
        self.scanned = 0
        return line

    def fill(self) -> None:
        chunk = os.read(self.fd, self.CHUNK)
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


def load_runner(path: str) -> Any:
    """An instance of the task runner named by "module:Class"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)()


class Worker:
    """State of one worker process: its task runner, data cache and protocol pipes."""

    def __init__(self, out_fd: int, runner: Any, root: forkserver.Template | None = None,
                 slot: int = 0) -> None:
        self.out_fd = out_fd
        self.runner = runner
        self.root = root if root is not None else forkserver.start_root(runner)
        self.slot = slot
        self.reader = LineReader(0)
        self.templates: dict[tuple[Any, ...], forkserver.Template] = {}
        self.in_pidns = os.environ.get("NASLOOP_PIDNS") == "1"
        self.cancelled: set[str] = set()  # tokens cancelled before their job arrived
        self.zygote: Zygote | None = None
        self.auditor: Zygote | None = None  # pre-forked for the next job's audit
        self.current: Zygote | None = None  # the candidate process of the running job
        self.done: list[Zygote] = []  # the running job's candidate process, once audited

    def send(self, obj: dict[str, Any]) -> None:
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.out_fd, data):]

    def template(self, job: Any) -> forkserver.Template:
        """The data template holding `job`'s data, loaded once per key (two keys kept). It is
        asked for with the job's data spec only: no template ever sees candidate code."""
        key = self.runner.data_key(job)
        tmpl = self.templates.get(key)
        if tmpl is not None and not tmpl.alive():
            self.templates.pop(key).stop()
            tmpl = None
        if tmpl is None:
            if len(self.templates) >= 2:
                self.templates.pop(next(iter(self.templates))).stop()
            if not self.root.alive():
                self.root.stop()
                self.root = forkserver.start_root(self.runner)
            spec = job.model_copy(update={"code": "", "candidate_id": -1, "params": {}})
            tmpl = forkserver.new_data_template(self.root, spec.model_dump(), key)
            self.templates[key] = tmpl
        return tmpl

    def spared(self) -> set[int]:
        """Processes cleanup must leave alone: the templates (they never run candidates)."""
        return {self.root.pid, *(t.pid for t in self.templates.values())}

    def cleanup(self) -> None:
        """Kill everything the candidate left: descendants, and in a private pid
        namespace every process but pid 1, this worker and its templates (and any idle
        zygote)."""
        for idle in (self.zygote, self.auditor):
            if idle is not None:
                idle.discard()
        self.zygote = self.auditor = None
        spared = self.spared()
        procs.kill_tree(os.getpid(), spare=spared)
        if self.in_pidns:  # nothing else belongs in this namespace: kill whatever is left
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                pids = [p for p in procs.namespace_pids() if procs.alive(p) and p not in spared]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                procs.reap_children()
                time.sleep(0.005)
            procs.reap_children()

    def run(self, raw: dict[str, Any], token: str = "") -> dict[str, Any]:
        """Run one job in a (pre-forked) candidate process; always returns a result.

        Returns as soon as the result is known; `finish()` then kills what is left."""
        from nasloop.sandbox.job import EvalJob

        t0 = time.perf_counter()
        job = EvalJob.model_validate(raw)
        if token and token in self.cancelled:
            return _failed(job, FailureClass.INFRASTRUCTURE, "cancelled by the orchestrator")
        try:
            self.current = self.take_zygote(job)
        except Exception as exc:  # noqa: BLE001 - reported, not the candidate's fault
            return _failed(job, FailureClass.INFRASTRUCTURE, f"data: {exc}")
        audits = self._audits(job)
        try:  # the model's tensors come back in their own file (nasloop.sandbox.tensorfile)
            size = tensorfile.size_for(job.memory_limit_mb)
            tensors = [tensorfile.create(size)] if audits else []
        except OSError as exc:
            return _failed(job, FailureClass.INFRASTRUCTURE, f"file of tensors: {exc}")
        try:
            self.current.send(job.model_dump_json(), tensors)
            result, ignored = self._collect(job, self.current, token)
            result.pop(audit.AUDIT_S, None)  # the worker's to measure
            tail = _tail(self.current.log_path)
            if audits:
                graph = getattr(self.runner, "take_graph", audit.take_graph)(result)
                if graph is not None or result.get("status") == "ok":
                    result = self._audit(job, result, graph, token, tensors)
        finally:
            for fd in tensors:
                os.close(fd)
        if ignored:  # one result per candidate: the first line stands, the rest is logged
            note = (f"nasloop: {ignored} more byte(s) on the result channel after the result "
                    "were ignored")
            tail = f"{tail}\n{note}" if tail else note
        result["log_tail"] = tail
        result["wall_s"] = time.perf_counter() - t0
        return result

    def _audits(self, job: Any) -> bool:
        audits = getattr(self.runner, "audits", None)
        return job.op != audit.AUDIT_OP and audits is not None and bool(audits(job))

    def _audit(self, job: Any, result: dict[str, Any], graph: object, token: str,
               tensors: list[int]) -> dict[str, Any]:
        """`result` with outputs and counts from running its model graph, whose tensors are
        in the file `tensors`, in the pre-forked auditor (see nasloop.sandbox.audit)."""
        if graph is None:
            return audit.no_graph(result)
        t0 = time.perf_counter()
        auditor, self.auditor = self.auditor, None
        assert self.current is not None
        # the candidate's processes are killed and torn down in `finish`, after the result
        # (an honest one waits for that); what they do meanwhile cannot reach the auditor
        # (not dumpable, its own pipes and mounts) beyond slowing or killing it: its own loss
        self.done.append(self.current)
        self.current = None
        key = zygote_key(self.runner.data_key(job), job)
        if auditor is not None and (auditor.key != key or not procs.alive(auditor.pid)):
            auditor.discard()
            auditor = None
        ajob = audit.audit_job(job, graph)
        try:
            self.current = auditor or spawn_zygote(key, self.template(job), job, self.slot,
                                                   auditor=True)
        except Exception as exc:  # noqa: BLE001 - reported, not the candidate's fault
            return _failed(job, FailureClass.INFRASTRUCTURE, f"audit: {exc}")
        self.current.send(ajob.model_dump_json(), tensors)
        audited, _ = self._collect(ajob, self.current, token)
        if audited.get("failure_class") == FailureClass.INFRASTRUCTURE.value:
            return {**audited, "candidate_id": job.candidate_id}
        merged = getattr(self.runner, "merge", audit.merge)(result, audited)
        merged[audit.AUDIT_S] = time.perf_counter() - t0
        return merged

    def finish(self) -> None:
        """Kill and reap everything of the last candidate, free its files."""
        try:
            self.cleanup()
        finally:
            for zyg in [*self.done, self.current]:
                if zyg is not None:
                    zyg.release()
            self.done, self.current = [], None

    def prefork(self, job: Any) -> None:
        """Have the next candidate process forked now, while idle (from the template that
        holds `job`'s data)."""
        key = zygote_key(self.runner.data_key(job), job)
        if self.zygote is None:
            self.zygote = spawn_zygote(key, self.template(job), job, self.slot)
        if self.auditor is None and self._audits(job):
            self.auditor = spawn_zygote(key, self.template(job), job, self.slot, auditor=True)

    def take_zygote(self, job: Any) -> Zygote:
        key: ZygoteKey = zygote_key(self.runner.data_key(job), job)
        zyg, self.zygote = self.zygote, None
        if zyg is not None and (zyg.key != key or not procs.alive(zyg.pid)):
            zyg.discard()
            zyg = None
        if zyg is None:
            self.prefork(job)
            zyg, self.zygote = self.zygote, None
        assert zyg is not None
        return zyg

    def _collect(self, job: Any, zyg: Zygote, token: str) -> tuple[dict[str, Any], int]:
        """The candidate's result (or its failure) and how many bytes it wrote after the
        result's first line (ignored)."""
        data, status, timed_out, cancelled = self._wait(zyg.pid, zyg.result_fd,
                                                        job.time_limit_s, token)
        if cancelled:
            return _failed(job, FailureClass.INFRASTRUCTURE, "cancelled by the orchestrator"), 0
        if timed_out:
            return _failed(job, FailureClass.TIMEOUT,
                           f"wall-clock limit of {job.time_limit_s:g} s exceeded; killed"), 0
        if len(data) >= RESULT_CAP and b"\n" not in data:
            return _failed(job, FailureClass.OUTPUT_TOO_LARGE,
                           f"its result is larger than {RESULT_CAP // 2**20} MiB"), 0
        if data:
            first, _, rest = data.partition(b"\n")
            try:
                result = json.loads(first)
            except ValueError:
                result = None
            if not isinstance(result, dict):
                return _failed(job, FailureClass.CRASH, "the candidate corrupted its result"), 0
            return result, len(rest)
        code = os.waitstatus_to_exitcode(status) if status is not None else -9
        cls, msg = classify_exit(code, timed_out=False)
        return _failed(job, cls, msg), 0

    def _wait(self, pid: int, read_fd: int, limit: float, token: str
              ) -> tuple[bytes, int | None, bool, bool]:
        """Wait until the child wrote a complete result line, exited, timed out or was
        cancelled. A child that is still alive afterwards is left to `cleanup`."""
        deadline = time.monotonic() + limit
        pidfd = os.pidfd_open(pid)
        data = bytearray()  # grows in place: a long line is not copied per chunk
        status: int | None = None
        timed_out = cancelled = False
        pipe_open = True
        stdin_open = not self.reader.eof
        try:
            while status is None and not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                fds = [pidfd] + ([read_fd] if pipe_open else []) + ([0] if stdin_open else [])
                ready, _, _ = select.select(fds, [], [], left)
                if read_fd in ready:
                    chunk = os.read(read_fd, 65536)
                    pipe_open = bool(chunk)
                    data += chunk
                    if len(data) >= RESULT_CAP:  # no line this long is a result: stop here
                        break
                if 0 in ready:
                    self.reader.fill()
                    stdin_open = not self.reader.eof
                    line = self.reader.pop_line()
                    if not stdin_open or (line and json.loads(line).get("cancel") == token):
                        cancelled = True
                        break
                if pidfd in ready:
                    _, status = os.waitpid(pid, 0)
            if status is not None and pipe_open:  # exited: take what it wrote
                os.set_blocking(read_fd, False)
                with contextlib.suppress(BlockingIOError):
                    while len(data) < RESULT_CAP and (chunk := os.read(read_fd, 65536)):
                        data += chunk
        finally:
            os.close(pidfd)
        return bytes(data), status, timed_out, cancelled


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


def own_limits() -> dict[int, tuple[int, int]]:
    """This process's resource limits (a change means a candidate reached the worker)."""
    import resource

    names = ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_FSIZE",
             "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_MEMLOCK")
    return {getattr(resource, n): resource.getrlimit(getattr(resource, n)) for n in names}


def _on_term(signum: int, frame: Any) -> None:
    procs.kill_tree(os.getpid())
    os._exit(0)


def main() -> None:
    """Entry point: handshake, then serve jobs until EOF on stdin."""
    procs.prctl(procs.PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    procs.prctl(procs.PR_SET_CHILD_SUBREAPER, 1)
    procs.prctl(confine.PR_SET_DUMPABLE, 0)  # no /proc/PID/mem or ptrace for same-uid processes
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    try:
        confine._libseccomp()  # candidate processes load their filter with it
    except confine.ConfineError as exc:
        sys.exit(f"the sandbox: {exc}")
    import torch

    torch.set_num_threads(1)  # no thread pool in the worker: forking after one is unsafe
    runner = load_runner(sys.argv[1])
    runner.preload()
    # the root template is forked before any job is read: candidates never inherit one
    worker = Worker(out_fd, runner, forkserver.start_root(runner),
                    slot=int(os.environ.get("NASLOOP_SLOT", "0")))
    limits = own_limits()
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
                result = worker.run(msg["job"], str(msg.get("token", "")))
            except Exception as exc:  # noqa: BLE001 - the worker itself must keep serving
                result = {"candidate_id": msg["job"].get("candidate_id", -1),
                          "status": "failed", "message": f"worker error: {exc!r}",
                          "failure_class": FailureClass.INFRASTRUCTURE.value}
            worker.send({"result": result})
            worker.finish()
            if own_limits() != limits or not worker.root.alive():
                # a candidate reached the worker: it is replaced before the next job
                worker.send({"clean": True, "damaged": True})
                break
            with contextlib.suppress(Exception):  # the next job retries and reports it
                from nasloop.sandbox.job import EvalJob

                worker.prefork(EvalJob.model_validate(msg["job"]))
            worker.send({"clean": True})  # nothing of the candidate is left; ready again
    worker.cleanup()
    for tmpl in [worker.root, *worker.templates.values()]:
        tmpl.stop()


if __name__ == "__main__":
    main()
