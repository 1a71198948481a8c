"""Benchmark: what a large validation split costs on the trusted side, before and after.

Run from the repository root::

    .venv/bin/python bench/large_results.py                 # 359 RGB images of 128x128
    .venv/bin/python bench/large_results.py --images 5000 --side 32   # CIFAR-10's val split

A restoration candidate's restored validation images come back as one result line (base64
`.npy` in JSON) that the orchestrator reads from its worker's pipe, and are scored there with
PSNR and SSIM. Two costs grew faster than the images and are measured side by side, each in
a fresh process (its peak memory is that process's):

- reading the line: `nasloop.sandbox.worker.LineReader` against the reader it replaced
  (kept below as `OldLineReader`: it appended each 64 KiB read to an immutable bytes object
  and searched the whole buffer for a newline again);
- SSIM: `nasloop.tasks.restoration.metrics.ssim` against the sliding-window form it replaced
  (`window_ssim`, also the definition the new one is checked against: same value to 1e-12).

Prints seconds and peak MB for each, and old/new ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


class OldLineReader:
    """The line reader before 2026-12-07 (immutable bytes, whole-buffer search)."""

    def __init__(self, fd: int) -> None:
        self.fd, self.buf, self.eof = fd, b"", False

    def readline(self) -> bytes | None:
        while True:
            if b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                return line
            if self.eof:
                return None
            chunk = os.read(self.fd, 65536)
            self.eof = not chunk
            self.buf += chunk


def window_ssim(restored: np.ndarray, clean: np.ndarray) -> float:
    """SSIM as the metrics module computed it before: every 7x7 window as a view."""
    from numpy.lib.stride_tricks import sliding_window_view

    from nasloop.tasks.restoration.metrics import K1, K2, WINDOW

    x, y = restored.astype(np.float64), clean.astype(np.float64)
    win = min(WINDOW, x.shape[2], x.shape[3])
    wx = sliding_window_view(x, (win, win), axis=(2, 3))
    wy = sliding_window_view(y, (win, win), axis=(2, 3))
    n = win * win
    mx, my = wx.mean(axis=(-2, -1)), wy.mean(axis=(-2, -1))
    cov = n / (n - 1)
    vx = ((wx**2).mean(axis=(-2, -1)) - mx**2) * cov
    vy = ((wy**2).mean(axis=(-2, -1)) - my**2) * cov
    vxy = ((wx * wy).mean(axis=(-2, -1)) - mx * my) * cov
    c1, c2 = K1**2, K2**2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return float(np.mean(s.reshape(len(s), -1).mean(axis=1)))


def _images(n: int, side: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    clean = rng.random((n, 3, side, side), dtype=np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    return noisy, clean


def _read_line(which: str, n: int, side: int) -> float:
    from nasloop.sandbox.outputs import encode
    from nasloop.sandbox.worker import LineReader

    noisy, _ = _images(n, side)
    line = json.dumps({"status": "ok", "outputs": {"val": encode(noisy)}}).encode() + b"\n"
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as fh:
            fh.write(line)

    t0 = time.perf_counter()
    threading.Thread(target=write, daemon=True).start()
    reader = LineReader(r) if which == "new" else OldLineReader(r)
    got = reader.readline()
    elapsed = time.perf_counter() - t0
    assert got is not None and len(got) == len(line) - 1
    return elapsed


def _ssim(which: str, n: int, side: int) -> float:
    from nasloop.tasks.restoration.metrics import ssim

    noisy, clean = _images(n, side)
    t0 = time.perf_counter()
    value = ssim(noisy, clean) if which == "new" else window_ssim(noisy, clean)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"ssim": value}))
    return elapsed


def _child(part: str, which: str, n: int, side: int) -> None:
    seconds = (_read_line if part == "line" else _ssim)(which, n, side)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mb": peak / 1024}))


def _measure(part: str, which: str, n: int, side: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, __file__, "--child", part, which, "--images", str(n),
                          "--side", str(side)], capture_output=True, text=True, env=env,
                         check=True).stdout
    found: dict[str, float] = {}
    for line in out.splitlines():
        found.update(json.loads(line))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=359)
    ap.add_argument("--side", type=int, default=128)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        _child(*a.child, a.images, a.side)
        return
    mb = a.images * 3 * a.side * a.side * 4 / 1e6
    print(f"{a.images} RGB images of {a.side}x{a.side}: {mb:.0f} MB of float32")
    print(f"{'part':<34}{'old s':>9}{'new s':>9}{'old/new':>9}{'old MB':>9}{'new MB':>9}")
    for part, label in (("line", "read the result line"), ("ssim", "SSIM on the trusted side")):
        old, new = _measure(part, "old", a.images, a.side), _measure(part, "new", a.images, a.side)
        if part == "ssim":
            assert abs(old["ssim"] - new["ssim"]) < 1e-12, (old["ssim"], new["ssim"])
        print(f"{label:<34}{old['seconds']:>9.2f}{new['seconds']:>9.2f}"
              f"{old['seconds'] / new['seconds']:>9.1f}{old['peak_mb']:>9.0f}"
              f"{new['peak_mb']:>9.0f}")


if __name__ == "__main__":
    main()
