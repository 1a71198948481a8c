"""Headless Chromium, run the quiet way (no background networking, throwaway profile):
screenshots of reports and their DOM with the page's console messages."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nasloop.inspect.rundir import InspectError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
QUIET_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--hide-scrollbars",
)
_CONSOLE = re.compile(r":CONSOLE(?::\d+)?\] (.*)$")


def find_chromium() -> str | None:
    """$NASLOOP_CHROMIUM, else the first Chromium/Chrome on PATH."""
    env = os.environ.get("NASLOOP_CHROMIUM")
    if env:
        return env
    return next((p for p in map(shutil.which, NAMES) if p), None)


@dataclass(frozen=True)
class PageRun:
    stdout: str  # the DOM with --dump-dom
    console: list[str]  # every message the page wrote to its console (errors included)


def _run(args: list[str], timeout: float) -> PageRun:
    exe = find_chromium()
    if exe is None:
        raise InspectError("no Chromium found: install it (Debian: apt-get install chromium) "
                           "or set NASLOOP_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="nasloop-chromium-") as profile:
        cmd = [exe, *QUIET_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr",
               "--v=0", *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise InspectError(f"chromium did not finish within {timeout:.0f}s") from None
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        raise InspectError(f"chromium failed ({proc.returncode}): {tail[0][:200]}")
    console = [m.group(1) for line in proc.stderr.splitlines() if (m := _CONSOLE.search(line))]
    return PageRun(proc.stdout, console)


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 2400,
               timeout: float = 120) -> PageRun:
    """A PNG of the page at `width` x `height` pixels."""
    png.parent.mkdir(parents=True, exist_ok=True)
    return _run([f"--window-size={width},{height}", f"--screenshot={png.resolve()}",
                 html.resolve().as_uri()], timeout)


def dump_dom(html: Path, timeout: float = 120) -> PageRun:
    """The page's DOM after load, as Chromium serialises it."""
    return _run(["--dump-dom", html.resolve().as_uri()], timeout)
