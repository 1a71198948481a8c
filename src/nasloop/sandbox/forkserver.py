"""Templates: the pristine processes candidate processes are forked from.

A candidate process must never inherit memory that held another candidate's job or result,
and the worker reads both. So candidates are not forked from the worker:

- right after start-up (runner preloaded, no job read yet) the worker forks a *root*
  template; it only ever receives data specs (a job stripped of its code);
- for each data key the root forks a *data* template that loads that data once;
- a data template forks each candidate process by a double fork, so the candidate is
  re-parented to the worker (a child subreaper), which waits for it and owns its pipes.

Requests travel over a SOCK_SEQPACKET socketpair, one JSON message each, with file
descriptors attached (SCM_RIGHTS).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from nasloop.sandbox import procs

TEMPLATE_NAME = b"nasloop-tmpl"  # /proc/PID/comm of a template (never runs candidate code)
MAX_FDS = 8
MSG_MAX = 1 << 20


def _send(sock: socket.socket, obj: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.send(data)


def _recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    data, fds, _, _ = socket.recv_fds(sock, MSG_MAX, MAX_FDS)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


@dataclass
class Template:
    """The worker's handle on one template process."""

    pid: int
    sock: socket.socket
    key: Any = None
    children: list[int] = field(default_factory=list)

    def ask(self, obj: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        """Send one request and wait for its answer (RuntimeError when the template is gone)."""
        try:
            _send(self.sock, obj, fds)
            answer, extra = _recv(self.sock)
        except OSError as exc:
            raise RuntimeError(f"template {self.pid} is gone: {exc}") from exc
        for fd in extra:
            os.close(fd)
        if answer is None:
            raise RuntimeError(f"template {self.pid} is gone")
        if "error" in answer:
            raise RuntimeError(str(answer["error"]))
        return answer

    def alive(self) -> bool:
        return procs.alive(self.pid)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)


def _child_setup(name: bytes) -> None:
    procs.prctl(procs.PR_SET_PDEATHSIG, signal.SIGKILL)
    procs.set_name(name)


def start_root(runner: Any) -> Template:
    """Fork the root template (call before reading any job)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            ours.close()
            _child_setup(TEMPLATE_NAME)
            if os.getppid() != parent:
                os._exit(0)
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # data templates reap themselves
            _root_loop(theirs, runner, parent)
        except BaseException:  # noqa: BLE001 - nothing may escape a template
            code = 70
        os._exit(code)
    theirs.close()
    return Template(pid, ours)


def _requests(sock: socket.socket, op: str, nfds: int, who: str
              ) -> Iterator[tuple[dict[str, Any], list[int]]]:
    """A template's requests of kind `op` carrying `nfds` descriptors, until the worker
    hangs up; anything else is answered with an error and its descriptors closed."""
    while True:
        msg, fds = _recv(sock)
        if msg is None:
            return
        if msg.get("op") == op and len(fds) == nfds:
            yield msg, fds
            continue
        for fd in fds:
            os.close(fd)
        _send(sock, {"error": f"{who}: bad request {str(msg)[:100]}"})


def _root_loop(sock: socket.socket, runner: Any, worker: int) -> None:
    for msg, fds in _requests(sock, "template", 1, "root template"):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _child_setup(TEMPLATE_NAME)
                _data_template(socket.socket(fileno=fds[0]), runner, msg["job"], worker)
            except BaseException:  # noqa: BLE001
                code = 70
            os._exit(code)
        os.close(fds[0])
        _send(sock, {"pid": pid})


def new_data_template(root: Template, data_job: dict[str, Any], key: Any) -> Template:
    """Ask the root for a template holding the data of `data_job` (which carries no code)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        pid = int(root.ask({"op": "template", "job": data_job}, [theirs.fileno()])["pid"])
    finally:
        theirs.close()
    tmpl = Template(pid, ours, key)
    try:
        ready, extra = _recv(ours)
    except OSError as exc:
        ready, extra = {"error": f"data template died: {exc}"}, []
    for fd in extra:
        os.close(fd)
    if ready is None or "error" in ready:
        tmpl.stop()
        raise RuntimeError((ready or {}).get("error", "the data template died while loading"))
    return tmpl


def _data_template(sock: socket.socket, runner: Any, raw_job: dict[str, Any],
                   worker: int) -> None:
    from nasloop.sandbox.job import EvalJob
    from nasloop.sandbox.zygote import zygote_main

    try:
        data = runner.load(EvalJob.model_validate(raw_job))
    except Exception as exc:  # noqa: BLE001 - reported to the worker as the data's failure
        _send(sock, {"error": f"{type(exc).__name__}: {exc}"[:500]})
        return
    # every object so far is shared with the candidates: a collection in a fork would touch
    # them all and copy the whole heap page by page (~0.3 s on the first batch of each)
    gc.freeze()
    _send(sock, {"ready": os.getpid()})
    for msg, fds in _requests(sock, "fork", 3, "data template"):
        pid_r, pid_w = os.pipe()
        middle = os.fork()
        if middle == 0:  # the middle process: fork the candidate process, tell its pid, go
            try:
                os.close(pid_r)
                zpid = os.fork()
                if zpid == 0:
                    os.close(pid_w)
                    sock.close()
                    zygote_main(msg, runner, data, worker, *fds)  # never returns
                os.write(pid_w, str(zpid).encode())
            finally:
                os._exit(0)
        os.close(pid_w)
        for fd in fds:
            os.close(fd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(middle, 0)  # once it is reaped, the candidate belongs to the worker
        text = os.read(pid_r, 64)
        os.close(pid_r)
        _send(sock, {"pid": int(text)} if text else {"error": "fork failed"})
