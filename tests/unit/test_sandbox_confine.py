"""The candidate's kernel-level confinement, applied in a forked child of the test: a fresh
/tmp, read-only mounts, no capabilities, the seccomp filter; the bubblewrap layout that lets
`nobody` reach an interpreter under a mode-700 directory; and the policy that refuses
LLM-written candidates without bubblewrap."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

from nasloop.config import ConfigError, build_config
from nasloop.sandbox import bwrap, confine, factory


def in_child(fn) -> dict:
    """Run `fn` in a forked child; its JSON-able return value (or its error)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            out = {"ok": fn()}
        except BaseException as exc:  # noqa: BLE001
            out = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)


def test_confined_child_has_a_fresh_tmp_no_caps_and_no_network(tmp_path: Path) -> None:
    marker = Path("/tmp") / f"nasloop-confine-{os.getpid()}"
    marker.write_text("host")
    outside = tmp_path / "host-file"

    def body() -> dict:
        confine.private_tmp(["/tmp/cand"], 16, 16)
        seen = sorted(os.listdir("/tmp"))
        confine.drop_all_capabilities()
        os.environ["X"] = "1"
        from nasloop.sandbox import procs

        procs.prctl(procs.PR_SET_NO_NEW_PRIVS, 1)
        confine.install_seccomp()
        got = {"tmp": seen, "caps": confine.capabilities()}
        try:
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            got["inet"] = True
        except OSError:
            got["inet"] = False
        try:
            outside.write_text("pwned")
            got["host_write"] = True
        except OSError:
            got["host_write"] = False
        Path("/tmp/cand/ok").write_text("fine")
        return got

    got = in_child(body)
    marker.unlink()
    assert "error" not in got, got
    ok = got["ok"]
    assert ok["tmp"] == ["cand"]  # not the host's /tmp
    assert all(v == 0 for v in ok["caps"].values()), ok["caps"]
    assert ok["inet"] is False and ok["host_write"] is False
    assert not outside.exists()


def test_a_closed_directory_is_replaced_by_a_tmpfs_with_the_interpreter_bound_back() -> None:
    import tempfile

    base = Path(tempfile.mkdtemp(dir="/var/tmp"))  # pytest's tmp_path sits in a closed dir
    base.chmod(0o755)
    try:
        _check_layout(base)
    finally:
        shutil.rmtree(base)


def _check_layout(tmp_path: Path) -> None:
    closed = tmp_path / "home"
    prefix = closed / "pyenv" / "versions" / "3.x"
    prefix.mkdir(parents=True)
    closed.chmod(0o700)
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    args = bwrap.reachable_layout([str(prefix), str(open_dir)])
    tmp_root = str(closed)
    assert args[:4] == ["--perms", "0755", "--tmpfs", tmp_root]
    assert ["--perms", "0755", "--dir", str(closed / "pyenv")] == args[4:8]
    assert args[-3:] == ["--ro-bind", str(prefix), str(prefix)]
    assert str(open_dir) not in args  # reachable as it is


@pytest.mark.parametrize(("generator", "allow", "refused"), [
    ("hf:/models/coder", False, True),
    ("hf:/models/coder", True, False),
    ("heuristic", False, False),
])
def test_llm_candidates_need_bubblewrap_unless_allowed(generator: str, allow: bool,
                                                       refused: bool) -> None:
    cfg = build_config({"agents": {"generator": {"model": generator}},
                        "sandbox": {"isolation": "none", "allow_unisolated": allow}})
    if refused:
        with pytest.raises(ConfigError, match="allow_unisolated"):
            factory.check_isolation_policy(cfg)
    else:
        factory.check_isolation_policy(cfg)


def test_code_being_loaded_cannot_write_the_result_channel() -> None:
    """The channel guard (nasloop.sandbox.channel): while a candidate's file loads, neither
    its thread nor threads it starts can write the channel, duplicate it, reopen it through
    /proc or make a socket to pass it on; the trainer's own thread still writes it."""

    def body() -> dict:
        import threading

        from nasloop.sandbox import channel
        from nasloop.sandbox.procs import PR_SET_NO_NEW_PRIVS, prctl

        prctl(PR_SET_NO_NEW_PRIVS, 1)
        ours, theirs = socket.socketpair()
        fd = ours.fileno()
        channel.mark_candidate_process(fd)
        tried: dict[str, str] = {}

        def attempt(name: str, fn) -> None:  # type: ignore[no-untyped-def]
            try:
                fn()
                tried[name] = "done"
            except OSError as exc:
                tried[name] = type(exc).__name__

        def load() -> None:
            attempt("write", lambda: os.write(fd, b"forged\n"))
            attempt("dup", lambda: os.dup(fd))
            attempt("dup2", lambda: os.dup2(fd, 50))
            attempt("reopen", lambda: open(f"/proc/self/fd/{fd}", "wb"))
            attempt("socketpair", lambda: socket.socketpair())
            later = threading.Thread(target=lambda: attempt(
                "thread", lambda: os.write(fd, b"forged\n")))
            later.start()
            later.join()

        channel.without_channel(load)
        os.write(fd, b"honest\n")  # the trainer's thread
        theirs.settimeout(2)
        return {"tried": tried, "got": theirs.recv(100).decode()}

    out = in_child(body)
    assert "ok" in out, out
    assert out["ok"]["got"] == "honest\n"  # nothing else reached the other end
    assert all(v != "done" for v in out["ok"]["tried"].values()), out


def test_a_venv_under_tmp_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each candidate's private /tmp would hide an interpreter or checkout living there."""
    factory.check_isolation_policy(build_config({}))  # this checkout: accepted
    monkeypatch.setattr("sys.prefix", "/tmp/somewhere/.venv")
    with pytest.raises(ConfigError, match="under /tmp") as err:
        factory.check_isolation_policy(build_config({}))
    assert "\n" not in str(err.value)


def test_a_waiting_process_is_confined_before_its_job_and_keeps_its_death_signal() -> None:
    """isolation.confine_waiting (done before any job arrives): no capabilities, the seccomp
    filter, `nobody` when root, the slot's CPUs, and the death signal set again after the
    change of uid (which clears it); confine_job then gives the job its own CPU time on top
    of what the wait used."""
    import ctypes
    import resource
    import tempfile
    import time

    from nasloop.sandbox import channel, isolation

    tmp = tempfile.mkdtemp(prefix="nasloop-waiting-")
    os.chmod(tmp, 0o755)
    log_fd = os.open(os.devnull, os.O_WRONLY)
    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # reports on the one descriptor confine_job keeps
        try:
            mine.close()
            # become nobody even where the interpreter sits in a closed home (modules this
            # child needs are loaded already)
            isolation.can_drop_privileges = lambda: os.geteuid() == 0
            isolation.confine_waiting(tmp, log_fd, "cpu", 1, owned=[tmp], slot=0)
            sig = ctypes.c_int(0)
            ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
            with open("/proc/self/status") as fh:
                status = dict(line.split(":", 1) for line in fh)
            end = time.process_time() + 0.3
            while time.process_time() < end:  # CPU time used while waiting
                pass
            fd = isolation.confine_job(theirs.detach(), 4096, 5.0, "cpu")
            got = {"uid": os.getuid(), "pdeathsig": sig.value, "fd": fd,
                   "seccomp": status["Seccomp"].strip(), "caps": confine.capabilities(),
                   "cpus": len(os.sched_getaffinity(0)),
                   "cpu_soft": resource.getrlimit(resource.RLIMIT_CPU)[0],
                   "open_fds": sorted(int(n) for n in os.listdir("/proc/self/fd"))}
        except BaseException as exc:  # noqa: BLE001
            got = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(channel.RESULT_FD, json.dumps(got).encode())
        os._exit(0)
    theirs.close()
    os.close(log_fd)
    data = b""
    while chunk := mine.recv(65536):
        data += chunk
    os.waitpid(pid, 0)
    shutil.rmtree(tmp, ignore_errors=True)
    ok = json.loads(data)
    assert "error" not in ok, ok
    assert ok["seccomp"] == "2"  # filter mode
    assert all(v == 0 for v in ok["caps"].values()), ok["caps"]
    assert ok["pdeathsig"] == 9 and ok["cpus"] == 1
    if os.geteuid() == 0:
        assert ok["uid"] == isolation.NOBODY
    assert ok["fd"] == channel.RESULT_FD
    assert ok["open_fds"][:4] == [0, 1, 2, 3] and len(ok["open_fds"]) == 5  # + the listing
    assert ok["cpu_soft"] >= 5 + 2 + 0.3  # the job's 5 s are all its own
