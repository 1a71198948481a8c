"""Restoration under hardware constraints on noisy digits: the seeds and the best found, with
and without distillation, side by side in one invocation, as Markdown.

    .venv/bin/python bench/restoration.py [--budget 12] [--epochs 20] [--sigma 0.2]
                                          [--image-size 8] [--teacher-epochs 30]

Runs two short heuristic searches (`nasloop run`, kind "restoration", in bench/out/) with the
same seeds, budget and run seed: one on clean targets, one on alpha = 0.9 distillation
targets from the built-in teacher. Prints PSNR, SSIM (validation, against the clean images),
parameters and CPU latency per 64x64 image of the seeds and the best candidate of each,
then the teacher's figures and the share of its PSNR the distilled student keeps.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def search(name: str, args: argparse.Namespace, distill: bool) -> dict:
    out = ROOT / "bench" / "out" / f"restoration-{name}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    config = out.parent / f"restoration-{name}.toml"
    config.write_text(
        f"[run]\nbudget = {args.budget}\n[data]\nimage_size = {args.image_size}\n"
        f'[task]\nkind = "restoration"\nepochs = {args.epochs}\nsigma = {args.sigma}\n'
        f"distill = {str(distill).lower()}\nteacher_epochs = {args.teacher_epochs}\n")
    subprocess.run([sys.executable, "-m", "nasloop", "run", "--config", str(config), "--out",
                    str(out)], check=True, capture_output=True, text=True)
    return json.loads((out / "summary.json").read_text())


def row(label: str, f: dict) -> str:
    return (f"| {label} | {f['val_psnr']:.2f} | {f['val_ssim']:.4f} | {int(f['params'])} | "
            f"{f['latency_ms']:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--sigma", type=float, default=0.2)
    ap.add_argument("--image-size", type=int, default=8)
    ap.add_argument("--teacher-epochs", type=int, default=30)
    args = ap.parse_args()
    plain = search("plain", args, distill=False)["restoration"]
    taught = search("distill", args, distill=True)["restoration"]
    print(f"digits {args.image_size}x{args.image_size}, noise sigma {args.sigma}, "
          f"{args.epochs} epochs per candidate, budget {args.budget}\n")
    print("| candidate | PSNR (dB) | SSIM | params | CPU ms / 64x64 |")
    print("|---|---:|---:|---:|---:|")
    for s in plain["seeds"]:
        print(row(f"seed {s['origin'].split(':', 1)[1]}", s))
    print(row(f"best found (#{plain['best']['candidate']})", plain["best"]))
    for s in taught["seeds"]:
        print(row(f"seed {s['origin'].split(':', 1)[1]}, distilled", s))
    print(row(f"best found, distilled (#{taught['best']['candidate']})", taught["best"]))
    d = taught["distillation"]
    print(f"\nteacher (built-in): PSNR {d['teacher_psnr']:.2f} dB, SSIM {d['teacher_ssim']:.4f}, "
          f"{d['teacher_params']} params; distilled best keeps {100 * d['retained_share']:.1f} % "
          f"of its PSNR with {d['params_ratio']:.1f}x fewer parameters")


if __name__ == "__main__":
    main()
