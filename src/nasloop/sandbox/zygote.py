"""Pre-forked candidate processes.

The worker has the next candidate process forked while it is idle (between jobs), so the
~30-100 ms that forking a process with torch loaded costs is not on the caller's path. It is
forked from a template that never saw a job (nasloop.sandbox.forkserver), takes a private
/tmp, warms up (the runner's trusted `warm`, cut short when the job arrives), and waits,
with no candidate code loaded, until the worker writes it a job; then it confines itself,
runs the task runner, writes its result and exits. An auditor's process (which runs a
returned model graph, nasloop.sandbox.audit) warms up with the runner's `warm_audit`
instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from nasloop.sandbox import allocator, procs
from nasloop.sandbox.audit import AUDIT_OP, GRAPH_FIELD
from nasloop.sandbox.failures import FailureClass

ZygoteKey = tuple[Any, str, int, int]  # the runner's data key, device kind, /tmp MiB, threads
IDLE_NAME = b"nasloop-zygote"  # /proc/PID/comm of a fork that has not received a job
BUSY_NAME = b"nasloop-cand"


@dataclass
class Zygote:
    """The worker's side of one pre-forked candidate process."""

    pid: int
    key: ZygoteKey  # the data it holds in memory, the device kind it warmed up for
    tmp: str  # its private temp dir (HOME, TMPDIR, cwd)
    log_path: str  # its stdout+stderr
    job_fd: int  # send the job here (one JSON line, a socket), then close
    result_fd: int  # read its result here

    def send(self, job_json: str, fds: list[int] | None = None) -> None:
        """Hand the job over, with `fds` (the file of tensors) passed along; the candidate
        starts running now."""
        data = (job_json + "\n").encode()
        sock = socket.socket(fileno=self.job_fd)
        self.job_fd = -1
        try:
            sent = socket.send_fds(sock, [data], fds, socket.MSG_NOSIGNAL) if fds else 0
            sock.sendall(data[sent:], socket.MSG_NOSIGNAL)
        except OSError:
            pass  # it died while idle; the wait reports it as a crash
        finally:
            sock.close()

    def discard(self) -> None:
        """Kill it (if it never got a job, nothing else is below it) and free its files."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.release()

    def release(self) -> None:
        """Close the worker's ends and remove the temp dir."""
        for fd in (self.job_fd, self.result_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.job_fd = self.result_fd = -1
        shutil.rmtree(self.tmp, ignore_errors=True)


def zygote_key(data_key: tuple[Any, ...], job: Any) -> ZygoteKey:
    """Which pre-forked process can take a job: the data it holds, the device kind it warmed
    up for, the size of its private /tmp, the CPUs it is confined to."""
    return (data_key, "cuda" if job.device.startswith("cuda") else "cpu", job.tmp_mb,
            max(job.threads, 1))


def _warm_cpu() -> None:
    """Start autograd's engine and the CPU kernels once, in this fresh fork (never in the
    worker: its forks would inherit the engine's threads). GPUs stay hidden: CPU jobs only."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import torch

    nn = torch.nn
    with torch.random.fork_rng(devices=[]):  # the layers and optimizers seeds use most
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Conv2d(2, 2, 3), nn.AdaptiveAvgPool2d(1),
                              nn.Flatten(), nn.Dropout(0.1), nn.Linear(2, 2))
        for opt_class in (torch.optim.SGD, torch.optim.Adam):
            opt = opt_class(model.parameters(), lr=0.1)
            loss = nn.functional.cross_entropy(model(torch.randn(2, 1, 8, 8)),
                                               torch.tensor([0, 1]))
            loss.backward()
            opt.step()
        with torch.no_grad():
            model.eval()(torch.randn(2, 1, 8, 8)).argmax(1)


def _warm_auditor(runner: Any, data: Any, job_fd: int) -> None:
    """Touch a little heap, then run the runner's `warm_audit(data, waiting)`: a trusted
    model's audit, so that the pages and lazily made state the audit path touches are this
    process's own before the graph arrives (a fresh fork paid 5-15 ms more per audit,
    measured). It must be short: no timer cuts it (an interrupt could leave one of its
    dispatch modes pushed), it only stops between its steps when `waiting()`."""
    allocator.prefault_heap(job_fd, allocator.AUDIT_PREFAULT_MB)
    warm = getattr(runner, "warm_audit", None)
    if warm is not None and not allocator.job_waiting(job_fd):
        warm(data, lambda: allocator.job_waiting(job_fd))


class _JobArrived(Exception):
    """Raised into a waiting process's warm-up when its job arrives: the job goes first."""


ALARM_S = 0.005  # how often a warm-up looks for its job


def _warm_until_job(warm: Any, data: Any, job_fd: int) -> None:
    """Run the runner's `warm(data, waiting)` unless a job is waiting on `job_fd`; when one
    arrives it is cut short within about `ALARM_S` (raised into it once, from SIGALRM), and
    `waiting()` tells it to stop between its own steps."""
    if allocator.job_waiting(job_fd):
        return
    armed = True

    def interrupt(signum: int, frame: Any) -> None:
        nonlocal armed
        if armed and allocator.job_waiting(job_fd):
            armed = False
            _stop_alarm()
            raise _JobArrived

    signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, ALARM_S, ALARM_S)
    try:
        warm(data, lambda: allocator.job_waiting(job_fd))
    except _JobArrived:
        pass
    finally:
        armed = False
        _stop_alarm()
        _fresh_autograd()


def _fresh_autograd() -> None:
    """Gradients on again, as in a fresh process. The interrupt can land inside
    `torch.no_grad().__enter__`, after it turned them off and before the `with` block exists
    to turn them back on: the candidate then trained with gradients off ("element 0 of
    tensors does not require grad"; seen once under load)."""
    import torch

    torch.set_grad_enabled(True)


def _stop_alarm() -> None:
    """No timer and SIGALRM's default action again: the candidate gets the process as a
    fresh one would be."""
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def spawn_zygote(key: ZygoteKey, template: Any, job: Any, slot: int, auditor: bool = False
                 ) -> Zygote:
    """Have `template` (a data template, see forkserver) fork a candidate process for jobs
    like `job` (with `auditor`, an auditor's process for their audits); it blocks until
    sent a job. The worker keeps its pipes' other ends."""
    tmp = tempfile.mkdtemp(prefix="nasloop-cand-")
    log_path = os.path.join(tmp, "candidate.log")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    # a socket, not a pipe: /proc/self/fd/N of a socket cannot be reopened (see
    # nasloop.sandbox.channel); the worker only reads its end
    result_r, result_w = _socketpair()
    job_r, job_w = _socketpair()  # a socket too: the file of tensors comes with the job
    try:
        answer = template.ask({"op": "fork", "tmp": tmp, "tmp_mb": job.tmp_mb,
                               "device": key[1], "threads": key[3], "slot": slot,
                               "auditor": auditor},
                              [job_r, result_w, log_fd])
    except BaseException:
        for fd in (result_r, job_w):
            os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        for fd in (job_r, result_w, log_fd):
            os.close(fd)
    return Zygote(int(answer["pid"]), key, tmp, log_path, job_w, result_r)


def _socketpair() -> tuple[int, int]:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return a.detach(), b.detach()


def zygote_main(spec: dict[str, Any], runner: Any, data: Any, worker: int, job_r: int,
                result_w: int, log_fd: int) -> None:
    """Body of a pre-forked candidate process (never returns). It waits to be re-parented
    to the worker, takes its private /tmp while it is still single-threaded, confines itself
    as far as that does not depend on the job (isolation.confine_waiting), warms up (the
    runner's `warm` too, when it has one, until a job arrives), then blocks until the worker
    sends a job. An auditor's (`spec["auditor"]`) touches less heap and runs the runner's
    `warm_audit` instead: it trains nothing, and its warm-up is short."""
    try:
        deadline = time.monotonic() + 10
        while os.getppid() != worker:  # the middle process is exiting
            if time.monotonic() > deadline:
                os._exit(0)
            time.sleep(0.0005)
        procs.prctl(procs.PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != worker:
            os._exit(0)
        from nasloop.sandbox import confine, isolation

        job_r, result_w, log_fd = (_above_stdio(fd) for fd in (job_r, result_w, log_fd))
        tmp = str(spec["tmp"])
        confine.private_tmp([tmp], int(spec["tmp_mb"]), max(16, int(spec["tmp_mb"]) // 4))
        isolation.confine_waiting(tmp, log_fd, str(spec.get("device", "cpu")),
                                  int(spec.get("threads", 1)), owned=[tmp],
                                  slot=int(spec.get("slot", 0)))
        if spec.get("device") == "cpu":
            # cheapest and most useful first: a job that arrives early cuts the rest short
            with contextlib.suppress(Exception):
                if spec.get("auditor"):
                    _warm_auditor(runner, data, job_r)
                else:
                    _warm_cpu()
                    allocator.prefault_heap(job_r)
                    warm = getattr(runner, "warm", None)
                    if warm is not None:
                        _warm_until_job(warm, data, job_r)  # leaves no timer or handler
        gc.freeze()  # the garbage collector leaves the template's heap alone (no copies)
        job_json, passed = _read_job(job_r)
        if not job_json.strip():
            os._exit(0)
        procs.set_name(BUSY_NAME)
    except BaseException as exc:  # noqa: BLE001 - the sandbox's fault: say why in its log
        with contextlib.suppress(BaseException):
            os.write(log_fd, f"nasloop sandbox: {type(exc).__name__}: {exc}\n".encode())
        os._exit(71)
    _candidate(job_json, runner, data, tmp, result_w, passed[0] if passed else None)


def _above_stdio(fd: int) -> int:
    """`fd`, moved above 0-2 if it is one of them (stdio is redirected before the job)."""
    if fd > 2:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, 3)
    os.close(fd)
    return moved


def _read_job(fd: int) -> tuple[bytes, list[int]]:
    """The job's line and the descriptors passed with it; closes `fd`."""
    sock = socket.socket(fileno=fd)
    data, fds = b"", []
    try:
        while True:
            chunk, got, _, _ = socket.recv_fds(sock, 65536, 1)
            fds += got
            data += chunk
            if not chunk or data.endswith(b"\n"):
                break
    finally:
        sock.close()
    return data, fds


def _candidate(job_json: bytes, runner: Any, data: Any, tmp: str, result_fd: int,
               tensor_fd: int | None) -> None:
    """Body of the candidate process: finish confining, run, write the result, _exit."""
    code = 0
    try:
        from nasloop.sandbox import isolation, tensorfile
        from nasloop.sandbox.job import EvalJob

        job = EvalJob.model_validate_json(job_json)
        out = isolation.confine_job(result_fd, job.memory_limit_mb,
                                    job.time_limit_s * (max(job.threads, 1) + 1), job.device,
                                    tensor_fd)
        if tensor_fd is not None:
            tensorfile.attach(tensorfile.FD)
        import torch

        torch.set_num_threads(max(job.threads, 1))
        violations = isolation.install_audit_hook([tmp], allow_ctypes=job.device != "cpu")
        if job.op == AUDIT_OP:  # a returned model graph: data, no candidate code
            result = runner.audit(job, data)
        else:
            result = runner.run(job, data)
        if violations and result.get("failure_class") != FailureClass.FORBIDDEN.value:
            result.update(status="failed", failure_class=FailureClass.FORBIDDEN.value,
                          message=f"forbidden operation: {violations[0]}")
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        data = json.dumps(result).encode() + b"\n"  # a complete line: the worker answers
        while data:
            data = data[os.write(out, data):]
        if GRAPH_FIELD in result:
            # its model now runs in the auditor, pinned to the same CPUs: exiting would tear
            # this process down there and then; the worker kills it once the result is out
            # (a GPU job hands its cached device memory back first: the auditor needs some)
            if job.device.startswith("cuda"):
                torch.cuda.empty_cache()
            time.sleep(job.time_limit_s)
    except BaseException:  # noqa: BLE001 - nothing may escape the child
        code = 70
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
