"""Build the bubblewrap command line the sandbox worker runs under, and probe for it."""

from __future__ import annotations

import functools
import glob
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

log = logging.getLogger("nasloop.sandbox")

MISSING = ("bubblewrap (bwrap) is not usable here: candidates run WITHOUT namespace "
           "isolation (network, filesystem and other processes are reachable); resource "
           "limits, process-group kills and the audit hook still apply. "
           "Install it with `apt-get install -y bubblewrap`.")


@functools.lru_cache(maxsize=1)
def bwrap_path() -> str | None:
    """Path of a bwrap that can create the namespaces we need, else None (probed once)."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    try:
        probe = subprocess.run([*bwrap_args(path, []), "true"], capture_output=True,
                               timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if probe.returncode == 0 else None


_warned = False


def warn_missing() -> None:
    """Say once per process, loudly, that isolation is degraded."""
    global _warned
    if not _warned:
        _warned = True
        if logging.getLogger().handlers:
            log.warning(MISSING)
        else:
            print(f"WARNING: {MISSING}", file=sys.stderr)


def nvidia_devices() -> list[str]:
    """NVIDIA device nodes to bind into the sandbox when CUDA is present."""
    return sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri/renderD*"))


def interpreter_paths() -> list[str]:
    """What a candidate process must be able to read to run Python and its packages."""
    paths = {os.path.realpath(sys.executable), sys.prefix, sys.base_prefix, sys.exec_prefix,
             sys.base_exec_prefix}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(os.path.realpath(p) for p in paths)


def _closed_ancestor(path: str) -> str | None:
    """The outermost directory above or at `path` that other users cannot search."""
    parts = os.path.realpath(path).strip("/").split("/")
    for i in range(1, len(parts) + 1):
        cur = "/" + "/".join(parts[:i])
        try:
            if os.path.isdir(cur) and not os.stat(cur).st_mode & 0o001:
                return cur
        except OSError:
            return None
    return None


def reachable_layout(needed: Sequence[str]) -> list[str]:
    """bwrap options that let an unprivileged uid (a root caller's candidates become
    `nobody`) reach `needed` paths below directories only their owner may search (an
    interpreter under a mode-700 /root): each such directory is covered by an empty tmpfs
    of mode 0755 and the needed paths are bound read-only back into it. Everything else in
    that directory is hidden from the sandbox as a bonus."""
    closed: dict[str, list[str]] = {}
    for p in needed:
        if os.path.exists(p):
            top = _closed_ancestor(p)
            if top is not None:
                closed.setdefault(top, []).append(os.path.realpath(p))
    args: list[str] = []
    for top in sorted(closed):
        if any(top.startswith(other + "/") for other in closed):
            continue  # inside a directory already covered
        args += ["--perms", "0755", "--tmpfs", top]
        inner = sorted({q for t, qs in closed.items() if t == top or t.startswith(top + "/")
                        for q in qs})
        made: set[str] = set()
        for q in inner:
            if any(q.startswith(o + "/") for o in inner if o != q):
                continue
            parts = q[len(top) + 1:].split("/")[:-1]
            for i in range(1, len(parts) + 1):  # bwrap would make them mode 0700
                d = top + "/" + "/".join(parts[:i])
                if d not in made:
                    made.add(d)
                    args += ["--perms", "0755", "--dir", d]
            args += ["--ro-bind", q, q]
    return args


def bwrap_args(path: str, read_only: Sequence[str], hidden: Sequence[str] = ()) -> list[str]:
    """bwrap options: read-only root, fresh /dev, /proc and private /tmp, no network, own
    pid/ipc/uts namespaces, new session, dies with its parent. `hidden` paths (labels,
    datasets) are covered by an empty tmpfs (a file: by /dev/null) after the `read_only`
    binds above them; `read_only` paths inside a hidden one (prepared data) are bound after
    it, so they stay visible. Paths reached through a symlink (a virtual environment linked
    into a checkout) are bound at their real place: bwrap cannot mount onto a link, and the
    link, visible through the root bind, then leads there."""
    read_only = [os.path.realpath(p) for p in read_only]
    hidden = [os.path.realpath(p) for p in hidden]
    args = [
        path, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
        "--tmpfs", "/tmp", "--tmpfs", "/dev/shm", "--unshare-pid", "--unshare-net",
        "--unshare-ipc", "--unshare-uts", "--hostname", "sandbox", "--die-with-parent",
        "--new-session", "--setenv", "NASLOOP_PIDNS", "1", "--setenv", "TMPDIR", "/tmp",
    ]
    for dev in nvidia_devices():
        args += ["--dev-bind", dev, dev]
    def inside_hidden(p: str) -> bool:
        return any(p == h or p.startswith(h.rstrip("/") + "/") for h in hidden)

    if os.geteuid() == 0:
        args += reachable_layout([p for p in [*interpreter_paths(), *read_only]
                                  if not inside_hidden(p)])

    # a read-only bind above a hidden path (the interpreter's prefix above scikit-learn's
    # bundled data) goes first, or it would uncover what the tmpfs hides
    for ro in [r for r in read_only if not inside_hidden(r)]:
        if os.path.exists(ro):
            args += ["--ro-bind", ro, ro]
    for h in hidden:
        if os.path.isdir(h):
            args += ["--tmpfs", h]
        elif os.path.exists(h):
            args += ["--ro-bind", "/dev/null", h]
    for ro in [r for r in read_only if inside_hidden(r)]:
        if os.path.exists(ro):
            top = max((h for h in hidden if ro == h or ro.startswith(h.rstrip("/") + "/")),
                      key=len)
            parts = ro[len(top.rstrip("/")) + 1:].split("/")[:-1]
            for i in range(1, len(parts) + 1):  # searchable by the candidate's uid
                args += ["--perms", "0755", "--dir", top.rstrip("/") + "/" + "/".join(parts[:i])]
            args += ["--ro-bind", ro, ro]
    return args
