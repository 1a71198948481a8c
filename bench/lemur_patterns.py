"""LEMUR-pattern files before and after the channel work: how many `nasloop eval` trains on
digits, and how many yield channel variants (and at least 20 distinct valid ones).

Each revision's ``src/`` is exported with ``git archive`` into a temporary directory and run
in a subprocess with that directory on PYTHONPATH, so "before" is the old code itself.

    python bench/lemur_patterns.py [--before REV] [--after REV|worktree] [--variants N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted((ROOT / "tests" / "fixtures" / "candidates").glob("*.py"))
SHAPES = {"lemur_rgb_only.py": [2, 3, 32, 32]}  # served as digits-rgb

VARIANTS = r"""
import json, sys
from nasloop.agents.mutation import MutationError
from nasloop.agents.mutation.api import confirm
from nasloop.agents.mutation.context import analyse
from nasloop.corpus.space import channel_space, realise, sample
from nasloop.memory.novelty import structural_hash
path, shape, want = sys.argv[1], tuple(json.loads(sys.argv[2])), int(sys.argv[3])
code = open(path).read()
try:
    ctx = analyse(code, shape, 10)
    slots = channel_space(ctx)
except MutationError as err:
    print(json.dumps({"variants": 0, "reason": err.reason})); sys.exit()
found = set()
for attempt in range(want * 6):
    try:
        child = realise(ctx, sample(slots, 0, attempt))
        confirm(child, shape, 10)
    except MutationError:
        continue
    found.add(structural_hash(child))
    if len(found) >= want:
        break
print(json.dumps({"variants": len(found), "reason": None}))
"""


def export(rev: str, into: Path) -> Path:
    """``src/`` of ``rev`` (or the working tree for 'worktree') under ``into``."""
    if rev == "worktree":
        return ROOT / "src"
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], check=True,
                          capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def measure(src: Path, want: int) -> dict[str, dict]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    found: dict[str, dict] = {p.name: {} for p in FILES}
    plain = [str(p) for p in FILES if p.name not in SHAPES]
    for files, extra in ((plain, []), ([str(FILES[0].parent / n) for n in SHAPES],
                                       ["--dataset", "digits-rgb"])):
        proc = subprocess.run([sys.executable, "-m", "nasloop", "eval", *files, "--epochs", "1",
                               "--json", *extra], env=env, capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                found[Path(r["file"]).name]["eval"] = r["status"] == "ok" or (
                    f"{r['failure_class']}: {r['message']}")
    for path in FILES:
        shape = SHAPES.get(path.name, [2, 1, 32, 32])
        proc = subprocess.run([sys.executable, "-c", VARIANTS, str(path), json.dumps(shape),
                               str(want)], env=env, capture_output=True, text=True)
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        found[path.name]["variants"] = (json.loads(lines[-1]) if lines else
                                        {"variants": 0, "reason": proc.stderr.strip()[-120:]})
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="3d6a61a", help="revision before the channel work")
    parser.add_argument("--after", default="worktree")
    parser.add_argument("--variants", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = measure(export(args.before, Path(tmp) / "before"), args.variants)
        after = measure(export(args.after, Path(tmp) / "after"), args.variants)
    print(f"{'file':28} {'eval before':>12} {'eval after':>11} {'variants before':>16}"
          f" {'variants after':>15}")
    for name in before:
        b, a = before[name], after[name]
        print(f"{name:28} {'ok' if b.get('eval') is True else 'FAIL':>12}"
              f" {'ok' if a.get('eval') is True else 'FAIL':>11}"
              f" {b['variants']['variants']:>16} {a['variants']['variants']:>15}")
    n = len(FILES)
    for label, key in (("eval trains", "eval"),):
        print(f"{label}: before {sum(v.get(key) is True for v in before.values())}/{n},"
              f" after {sum(v.get(key) is True for v in after.values())}/{n}")
    for floor in (1, args.variants):
        nb = sum(v["variants"]["variants"] >= floor for v in before.values())
        na = sum(v["variants"]["variants"] >= floor for v in after.values())
        print(f">= {floor} channel variants: before {nb}/{n}, after {na}/{n}")
    for label, res in (("before", before), ("after", after)):
        for name, v in res.items():
            if v.get("eval") is not True:
                print(f"  {label} eval {name}: {v.get('eval')}")
            if v["variants"]["reason"]:
                print(f"  {label} variants {name}: {v['variants']['reason']}")


if __name__ == "__main__":
    main()
