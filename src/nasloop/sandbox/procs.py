"""Process-tree helpers (Linux /proc): find descendants, kill them all, prctl flags."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def prctl(option: int, arg: int) -> bool:
    """Call prctl(2); False when unavailable (non-Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


PR_SET_NAME = 15


def set_name(name: bytes) -> None:
    """Set this process's command name (/proc/PID/comm, 15 bytes at most)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(name[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _ppids() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1:
            out[int(name)] = int(rest[1])
    return out


def descendants(root: int, spare: set[int] | frozenset[int] = frozenset()) -> list[int]:
    """All descendants of `root` (not `root` itself), leaving out the `spare` processes and
    everything below them."""
    parents = _ppids()
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid in found or pid in spare:
            continue
        found.append(pid)
        stack.extend(children.get(pid, []))
    return found


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def reap_children() -> None:
    """Reap any exited children of this process (non-blocking)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_tree(root: int, include_root: bool = False, reap: bool = True,
              limit_s: float = 20.0, spare: set[int] | frozenset[int] = frozenset()) -> None:
    """Freeze then SIGKILL every descendant of `root` (and `root` if asked), until none is
    left alive (a SIGKILLed process with a large address space takes a while to go).

    Freezing first (SIGSTOP) stops a fork loop from outrunning the killer. The `spare`
    processes and what is below them are left alone. With `reap`, also
    reaps any exited child of this process (only for processes that own all their children,
    like the worker; never in the orchestrator).
    """
    deadline = time.monotonic() + limit_s
    pause = 0.001
    while time.monotonic() < deadline:
        pids = descendants(root, spare)
        if include_root:
            pids.append(root)
        live = [p for p in pids if _alive(p)]
        if not live:
            break
        _signal_all(live, signal.SIGSTOP)
        _signal_all(live, signal.SIGKILL)
        if reap:
            reap_children()
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    if reap:
        reap_children()


def _alive(pid: int) -> bool:
    """True for a live process, false for a gone or zombie one."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def alive(pid: int) -> bool:
    """True while `pid` is a live (non-zombie) process."""
    return _alive(pid)


def comm(pid: int) -> str:
    """The process's command name ('' when gone)."""
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def below_bwrap(root: int) -> int:
    """The first process at or below `root` that is not bubblewrap itself."""
    pid = root
    while comm(pid).startswith("bwrap"):
        kids = [p for p, pp in _ppids().items() if pp == pid]
        if not kids:
            return pid
        pid = min(kids)
    return pid


def namespace_pids() -> list[int]:
    """Every pid visible in /proc except pid 1 and this process (for a private pid ns)."""
    me = os.getpid()
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) not in (1, me)]
