"""Kernel-level confinement a candidate process applies to itself before any candidate code.

In order (each step needs the privileges the next one gives up):

1. `private_tmp`: its own mount namespace (a nested user namespace gives the right to mount
   when not root) where every mount is read-only and /tmp and /dev/shm are fresh,
   size-limited tmpfs, so nothing crosses from one candidate to the next, the RAM they can
   fill is bounded, and the host's files stay as they are even without bubblewrap;
2. `pin_cpus`: CPU affinity to the job's thread count, so `threads` is enforced, not advice;
3. `drop_all_capabilities`: bounding, ambient, effective, permitted and inheritable sets
   emptied (root has already become `nobody` where the interpreter is readable by it);
4. `install_seccomp`: a libseccomp filter that refuses mount, ptrace, keyrings,
   bpf, modules, namespaces, raw devices, io_uring, affinity changes, other processes'
   limits, and every socket but AF_UNIX. It is inherited by every child and can
   never be removed.

A pre-forked candidate process does all of this (and becomes `nobody`) while it waits,
before its trusted warm-up and before it is given a job (isolation.confine_waiting); only the
job's own memory and CPU limits follow when the job arrives (isolation.confine_job).

The audit hook (nasloop.sandbox.isolation) stays as a polite first line; these are the wall.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from collections.abc import Sequence

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 1 << 18
PR_CAPBSET_DROP, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 47, 4
PR_SET_DUMPABLE = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# clone(2) flags that make a new namespace (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
# NEWNET): refused to candidates, as are unshare and setns
_CLONE_NEW = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000,
              0x40000000)
AF_UNIX = 1

# Syscalls a candidate never needs, refused with EPERM.
DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr", "unshare", "setns",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "add_key", "request_key", "keyctl", "bpf", "perf_event_open", "userfaultfd",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
    "mknod", "mknodat", "iopl", "ioperm", "reboot", "swapon", "swapoff", "syslog", "acct",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "quotactl",
    "open_by_handle_at", "name_to_handle_at", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "sched_setaffinity", "setpriority", "lookup_dcookie",
    "vhangup", "personality", "uselib", "nfsservctl",
)


class ConfineError(RuntimeError):
    """A confinement step failed: the candidate must not run (the sandbox's fault)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise ConfineError(f"{what}: {os.strerror(err)} (errno {err})")


def _write(path: str, text: str) -> None:
    with open(path, "w") as fh:
        fh.write(text)


def private_tmp(paths: Sequence[str], tmp_mb: int, shm_mb: int) -> None:
    """Enter a new mount namespace (in a nested user namespace when not root) and mount a
    fresh tmpfs of `tmp_mb` MiB on /tmp and of `shm_mb` MiB on /dev/shm; then recreate each
    of `paths` (the candidate's working dir) inside the new /tmp. Single-threaded callers only
    (a user namespace cannot be entered by a threaded process)."""
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    if uid == 0:
        _check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    else:
        _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER|CLONE_NEWNS)")
        # the worker's processes are not dumpable, which makes /proc/self root's: own it
        # again just long enough to write the maps
        libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        finally:
            libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    readonly_mounts()
    for target, size in (("/tmp", tmp_mb), ("/dev/shm", shm_mb)):
        opts = f"size={size}m,nr_inodes=16384,mode=1777".encode()
        _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, opts),
               f"mount a private tmpfs on {target}")
    for path in paths:
        os.makedirs(path, mode=0o700, exist_ok=True)


_KEEP_WRITABLE = ("/proc", "/sys", "/dev")  # pseudo-filesystems and device nodes
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": 0x8, "noatime": 0x400,
          "nodiratime": 0x800, "relatime": 1 << 21}
MS_RDONLY, MS_REMOUNT, MS_BIND = 0x1, 0x20, 0x1000


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags to keep) of every mount this process sees."""
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # \040 and friends
            flags = 0
            for opt in fields[5].split(","):
                flags |= _FLAGS.get(opt, 0)
            out.append((point, flags))
    return out


def readonly_mounts() -> None:
    """Remount every mount of this (private) namespace read-only, but /proc, /sys and /dev,
    so the host's files cannot be changed even without bubblewrap. Flags the kernel locks
    (nosuid, nodev, noexec, atime) are kept, as it requires."""
    libc = _libc()
    for point, flags in _mounts():
        if any(point == k or point.startswith(k + "/") for k in _KEEP_WRITABLE):
            continue
        ret = libc.mount(None, point.encode(), None,
                         MS_REMOUNT | MS_BIND | MS_RDONLY | flags, None)
        if ret != 0 and point == "/":
            _check(ret, "remount / read-only")


def pin_cpus(threads: int, slot: int = 0) -> list[int]:
    """Restrict this process (and all it starts) to `threads` of the CPUs it may use, picked
    by `slot` so that concurrent workers do not share them while there are enough."""
    allowed = sorted(os.sched_getaffinity(0))
    n = max(1, min(threads, len(allowed)))
    cpus = sorted({allowed[(slot * n + k) % len(allowed)] for k in range(n)})
    os.sched_setaffinity(0, cpus)
    return cpus


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            return int(fh.read())
    except (OSError, ValueError):
        return 63


def drop_bounding_set() -> None:
    """Empty the capability bounding set and the ambient set (needs CAP_SETPCAP, so before
    the uid changes; without it there is nothing to drop that could be regained)."""
    libc = _libc()
    for cap in range(_last_cap() + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)


def drop_all_capabilities() -> None:
    """Empty every capability set of this thread. Idempotent."""
    drop_bounding_set()
    libc = _libc()
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(libc.capset(ctypes.byref(header), data), "capset(empty)")


def capabilities() -> dict[str, int]:
    """This process's capability sets as read from /proc/self/status (CapEff, CapBnd, ...)."""
    out: dict[str, int] = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("Cap"):
                name, value = line.split(":", 1)
                out[name] = int(value.strip(), 16)
    return out


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE, SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ = 1, 4, 7
SCMP_FLTATR_CTL_TSYNC = 4
F_DUPFD, F_DUPFD_CLOEXEC = 0, 1030
# (syscall, index of the descriptor it writes to or duplicates): refused on `fd` to a
# thread that must not report (guard_channel)
_WRITES_TO = (("write", 0), ("writev", 0), ("pwrite64", 0), ("pwritev", 0), ("pwritev2", 0),
              ("sendto", 0), ("sendmsg", 0), ("sendmmsg", 0), ("dup", 0), ("dup2", 0),
              ("dup2", 1), ("dup3", 0), ("dup3", 1), ("splice", 2), ("tee", 1),
              ("sendfile", 0), ("copy_file_range", 2), ("vmsplice", 0), ("shutdown", 0))


def _errno_action(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


@functools.lru_cache(maxsize=1)
def _libseccomp() -> ctypes.CDLL:
    """libseccomp (the well-kept C library) through ctypes. Our own binding of the five
    calls we need rather than a Python wrapper: the ones on PyPI are unmaintained
    (pyseccomp's last release is from 2021) or need compiling against libseccomp's headers."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise ConfineError(f"libseccomp is not installed (apt-get install -y libseccomp2): "
                           f"{exc}") from None
    lib.seccomp_init.argtypes = (ctypes.c_uint32,)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.argtypes = (ctypes.c_char_p,)
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = (ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp))
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_load.argtypes = (ctypes.c_void_p,)
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_release.argtypes = (ctypes.c_void_p,)
    lib.seccomp_release.restype = None
    lib.seccomp_attr_set.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)
    lib.seccomp_attr_set.restype = ctypes.c_int
    return lib


def _load_filter(rules: list[tuple[int, str, tuple[tuple[int, int, int, int], ...]]],
                 all_threads: bool) -> None:
    """Load an allow-by-default filter refusing `rules` (action, syscall, argument
    comparisons) on every thread of the process (`all_threads`) or on the calling one."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise ConfineError("seccomp_init failed")
    try:
        if all_threads and lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0:
            raise ConfineError("seccomp: cannot synchronise the filter over threads")
        for action, name, cmps in rules:
            nr = lib.seccomp_syscall_resolve_name(name.encode())
            if nr < 0:
                continue  # a syscall this kernel/arch does not have
            arr = (_ArgCmp * max(len(cmps), 1))(*[_ArgCmp(*c) for c in cmps])
            ret = lib.seccomp_rule_add_array(ctx, action, nr, len(cmps), arr)
            if ret != 0:
                raise ConfineError(f"seccomp rule for {name}: {os.strerror(-ret)}")
        ret = lib.seccomp_load(ctx)
        if ret != 0:
            raise ConfineError(f"seccomp_load: {os.strerror(-ret)}")
    finally:
        lib.seccomp_release(ctx)


def guard_channel(fd: int) -> None:
    """Keep the calling thread, and every thread or process it starts, from writing to `fd`
    or getting another descriptor for it: write-family calls and duplication naming `fd`
    are refused, so are new sockets (no passing it over SCM_RIGHTS). `fd` must be a socket:
    /proc/self/fd/N of a socket cannot be opened. Other threads are unaffected."""
    eperm = _errno_action(errno.EPERM)
    rules = [(eperm, name, ((arg, SCMP_CMP_EQ, fd, 0),)) for name, arg in _WRITES_TO]
    rules += [(eperm, "fcntl", ((0, SCMP_CMP_EQ, fd, 0), (1, SCMP_CMP_EQ, cmd, 0)))
              for cmd in (F_DUPFD, F_DUPFD_CLOEXEC)]
    rules += [(eperm, "socket", ()), (eperm, "socketpair", ())]
    _load_filter(rules, all_threads=False)


def install_seccomp() -> None:
    """Load the candidate's syscall filter (set no_new_privs first). Resource limits may only
    be changed on this process itself; namespace flags are refused to clone(2) as well."""
    eperm = _errno_action(errno.EPERM)
    rules: list[tuple[int, str, tuple[tuple[int, int, int, int], ...]]] = [
        (eperm, name, ()) for name in DENIED]
    rules.append((_errno_action(errno.ENOSYS), "clone3", ()))  # glibc falls back to clone(2)
    rules += [(eperm, "clone", ((0, SCMP_CMP_MASKED_EQ, flag, flag),)) for flag in _CLONE_NEW]
    rules.append((eperm, "socket", ((0, SCMP_CMP_NE, AF_UNIX, 0),)))
    # limits of other processes (the worker's, say) are out of reach: pid 0 is "myself"
    rules.append((eperm, "prlimit64", ((0, SCMP_CMP_NE, 0, 0),)))
    rules.append((eperm, "prctl", ((0, SCMP_CMP_EQ, PR_SET_DUMPABLE, 0),
                                   (1, SCMP_CMP_NE, 0, 0))))
    _load_filter(rules, all_threads=True)
