"""The containment tests again, with nasloop itself run by an unprivileged user.

CI runs as root, so tests/integration/test_sandbox_containment.py covers the root case; this
runs that same file as uid `USER_ID` (no passwd entry, no groups) where the machine allows
it: when the tests run as root (needed to switch users) and bubblewrap is usable (it gives
that user a view where an interpreter under a mode-700 home is reachable, the layout the
sandbox itself uses for `nobody`), and the kernel lets an unprivileged user create
namespaces (probed as that user; some distributions restrict it). Inside, nasloop starts
its own sandbox as that user, in a nested user namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nasloop.sandbox import bwrap

ROOT = Path(__file__).resolve().parent.parent.parent
USER_ID = 4321  # not in /etc/passwd: owns nothing on the host but the test's own directory

pytestmark = pytest.mark.slow


def test_containment_holds_for_an_unprivileged_caller() -> None:
    if os.geteuid() != 0:
        pytest.skip("switching to an unprivileged user needs root")
    path = bwrap.bwrap_path()
    setpriv = shutil.which("setpriv")
    if path is None or setpriv is None:
        if os.environ.get("CI"):
            pytest.fail("bubblewrap and setpriv must be usable under CI")
        pytest.skip("bubblewrap or setpriv is not usable on this machine")
    home = tempfile.mkdtemp(prefix="nasloop-unpriv-", dir="/var/tmp")
    try:
        os.chmod(home, 0o700)
        os.chown(home, USER_ID, USER_ID)
        view = [path, "--dev-bind", "/", "/",
                *bwrap.reachable_layout([*bwrap.interpreter_paths(), str(ROOT)]),
                "--die-with-parent"]
        as_user = [setpriv, f"--reuid={USER_ID}", f"--regid={USER_ID}", "--clear-groups",
                   "--inh-caps=-all", "--bounding-set=-all", "--"]
        pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                      f"--basetemp={home}/pytest", "-x",
                      "tests/integration/test_sandbox_containment.py"]
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "CI")}
        env.update(HOME=home, TMPDIR=home, PYTHONDONTWRITEBYTECODE="1",
                   PYTHONPATH=str(ROOT / "src"))
        who = subprocess.run([*view, *as_user, sys.executable, "-c",
                              "import os; from nasloop.sandbox import bwrap; "
                              "print(os.geteuid(), os.getegid(), os.getgroups(), "
                              "bwrap.bwrap_path() is not None)"],
                             env=env, capture_output=True, text=True, timeout=120, check=False)
        assert who.stdout.split()[:3] == [str(USER_ID), str(USER_ID), "[]"], (
            who.stdout + who.stderr)
        if who.stdout.split()[3:] != ["True"]:
            pytest.skip("this machine does not let an unprivileged user create the namespaces "
                        f"bubblewrap needs (bwrap is unusable as uid {USER_ID})")
        proc = subprocess.run([*view, *as_user, *pytest_cmd], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=1200, check=False)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    # every containment test ran, with bubblewrap and without, none skipped
    assert " passed" in out and " failed" not in out and "skipped" not in out, out[-4000:]
