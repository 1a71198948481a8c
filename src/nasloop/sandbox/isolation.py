"""What a candidate process does to itself before running candidate code: limits, a minimal
environment, dropped privileges, and an audit hook that refuses forbidden operations.

The kernel-level parts (bubblewrap's namespaces, nasloop.sandbox.confine's private /tmp,
capabilities and seccomp filter, rlimits, own session) are the real boundary; the audit
hook only turns polite attempts into a clear `forbidden-operation`.
"""

from __future__ import annotations

import fcntl
import math
import os
import re
import resource
import signal
import sys
from collections.abc import Mapping
from typing import Any

from nasloop.sandbox import allocator, channel, procs
from nasloop.sandbox.classify import ForbiddenOperation

# Pin the float kernels torch, oneDNN and MKL pick by CPU, so runs compare across machines
NUMERICS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR")
SECRET = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|COOKIE|AUTH)", re.IGNORECASE)
KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES", "CUDA_HOME",
        "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES", "LD_LIBRARY_PATH",
        *NUMERICS)
NOBODY = 65534
FSIZE_LIMIT = 32 * 2**20  # bytes: candidate logs and files
EXTRA_TASKS = 128  # processes/threads a candidate may add beyond what its user already runs


def minimal_env(base: Mapping[str, str], home: str, threads: int = 1) -> dict[str, str]:
    """An allow-listed environment: no secrets, no orchestrator paths; HOME/TMPDIR = `home`."""
    env = {k: v for k, v in base.items() if k in KEEP and not SECRET.search(k)}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1",
               OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.setdefault("LANG", "C.UTF-8")
    return env


def _user_tasks(uid: int) -> int:
    """Tasks (threads included, as RLIMIT_NPROC counts them) owned by `uid`."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                total += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue
    return total


def apply_standing_limits(uid: int) -> None:
    """Set the limits that do not depend on the job: RLIMIT_NPROC (room for EXTRA_TASKS
    beyond what `uid` runs now), RLIMIT_FSIZE and RLIMIT_CORE."""
    nproc = _user_tasks(uid) + EXTRA_TASKS
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def apply_job_limits(memory_mb: int, cpu_s: float, device: str) -> None:
    """Set RLIMIT_AS (CPU devices only: CUDA reserves huge address ranges) and RLIMIT_CPU
    on this process. Only lowers them, so an unprivileged process may do it. RLIMIT_CPU
    counts from the process's start: the CPU time it already used waiting (its trusted
    warm-up) is added, so the candidate gets all of `cpu_s`."""
    if not device.startswith("cuda"):
        with open("/proc/self/status") as fh:
            vm = next((int(s.split()[1]) * 1024 for s in fh if s.startswith("VmSize:")), 0)
        limit = max(memory_mb * 2**20, vm + 256 * 2**20)  # torch alone maps ~3 GB
        limit += allocator.HEAP_HELD
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(math.ceil(cpu_s + used.ru_utime + used.ru_stime)) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 3))


def _others_can_reach(path: str) -> bool:
    """True when every directory from / down to `path` is searchable by other users."""
    path = os.path.realpath(path)
    while True:
        try:
            if os.path.isdir(path) and not os.stat(path).st_mode & 0o001:
                return False
        except OSError:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def can_drop_privileges() -> bool:
    """Root may become nobody only when nobody can still read Python and its packages
    (an interpreter under /root, for instance, is not)."""
    import torch

    import nasloop

    paths = [sys.executable, sys.prefix, sys.base_prefix, os.path.dirname(os.__file__),
             os.path.dirname(torch.__file__), os.path.dirname(nasloop.__file__)]
    return os.geteuid() == 0 and all(_others_can_reach(p) for p in paths)


def drop_privileges(paths: list[str]) -> int:
    """When root and `can_drop_privileges()`, hand `paths` to nobody and become nobody (so
    RLIMIT_NPROC applies and root-only files stay unreadable). Returns the candidate's uid."""
    if os.geteuid() != 0 or not can_drop_privileges():
        return os.geteuid()
    for path in paths:
        os.chown(path, NOBODY, NOBODY)
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return NOBODY


def confine_waiting(tmp: str, log_fd: int, device: str, threads: int, owned: list[str],
                    slot: int = 0) -> None:
    """Everything a pre-forked candidate process does to itself that does not depend on its
    job, done while it waits for one (so none of it is on the job's path), before its
    trusted warm-up.

    New session, death signal tied to the worker, stdio to `log_fd`, minimal env, `nobody`
    where possible, the standing limits, `threads` CPUs, no capabilities, no new privileges,
    the seccomp filter (its private /tmp was mounted when it was forked: see
    nasloop.sandbox.confine). `confine_job` finishes the set-up when the job arrives."""
    from nasloop.sandbox import confine

    confine._libseccomp()  # loaded while the interpreter is surely readable

    parent = os.getppid()
    os.setsid()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.chdir(tmp)
    keep = {k: v for k, v in os.environ.items() if k in KEEP}
    os.environ.clear()
    os.environ.update(minimal_env(keep, tmp, threads))
    if not device.startswith("cuda"):
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # a CPU job neither sees nor initialises GPUs
    import tempfile

    tempfile.tempdir = tmp
    confine.drop_bounding_set()
    uid = drop_privileges(owned)
    # set only now: a change of uid clears it (until here, the caller's own holds)
    procs.prctl(procs.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    apply_standing_limits(uid)
    confine.pin_cpus(threads, slot)
    confine.drop_all_capabilities()
    procs.prctl(procs.PR_SET_NO_NEW_PRIVS, 1)
    confine.install_seccomp()
    sys.dont_write_bytecode = True


def confine_job(keep_fd: int, memory_mb: int, cpu_s: float, device: str,
                tensor_fd: int | None = None) -> int:
    """The rest of the set-up once the job has arrived, before any candidate code runs:
    every fd closed except `keep_fd` (moved to channel.RESULT_FD, returned), `tensor_fd`
    (moved to tensorfile.FD) and stdio, the job's memory and CPU limits, candidate code
    loaded away from the channel from now on."""
    from nasloop.sandbox import tensorfile

    places = {channel.RESULT_FD: keep_fd}
    if tensor_fd is not None:
        places[tensorfile.FD] = tensor_fd
    # copied clear of their new places first, so that one cannot overwrite the other
    moved = {place: fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for place, fd in places.items()}
    for place, fd in moved.items():
        os.dup2(fd, place)
    os.closerange(max(places) + 1, 65536)
    apply_job_limits(memory_mb, cpu_s, device)
    channel.mark_candidate_process(channel.RESULT_FD)
    return channel.RESULT_FD


_ALWAYS = {
    "os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "subprocess.Popen", "pty.spawn", "socket.__new__", "socket.connect", "socket.bind",
    "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto", "os.startfile",
    "os.setns", "os.unshare",
}
_CTYPES = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.cdata",
           "ctypes.call_function"}
_PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
                "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.rmtree",
                "shutil.move", "shutil.copyfile", "os.replace"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def install_audit_hook(allowed_dirs: list[str], allow_ctypes: bool) -> list[str]:
    """Refuse processes, sockets, signals to others and writes outside `allowed_dirs`.

    Returns the list that collects every refused attempt (even ones the candidate catches).
    """
    violations: list[str] = []
    roots = tuple(os.path.realpath(d) + os.sep for d in allowed_dirs) + ("/dev/null",)
    me = os.getpid()
    blocked = _ALWAYS if allow_ctypes else _ALWAYS | _CTYPES

    def outside(path: Any) -> bool:
        if isinstance(path, int) or path is None:
            return False
        real = os.path.realpath(os.fsdecode(path))
        return not (real + os.sep).startswith(roots) and real != "/dev/null"

    def refuse(what: str) -> None:
        violations.append(what)
        raise ForbiddenOperation(f"forbidden operation: {what}")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in blocked:
            refuse(event)
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            target = args[0] if args else None
            if event != "signal.pthread_kill" and target not in (me, -me, 0):
                refuse(f"{event}({target}) of another process")
        elif event == "open" and len(args) >= 3:
            path, mode, flags = args[0], args[1], args[2]
            writing = bool(flags and flags & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+"))
            if writing and outside(path):
                refuse(f"write to {os.fsdecode(path)}")
        elif event in _PATH_EVENTS and args:
            if any(outside(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
                refuse(f"{event} outside the sandbox temp dir")

    sys.addaudithook(hook)
    return violations
