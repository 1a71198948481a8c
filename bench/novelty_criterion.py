"""What the near-duplicate criterion accepts and rejects, on the candidate fixtures, the
built-in seeds and a 400-line model: copies (re-formatted and re-commented, renamed) against
real edits (one number, one string, one layer), under the current criterion (structural or
canonical hash) and the earlier one (MinHash-Jaccard >= 0.9 over statement 3-grams).

    python bench/novelty_criterion.py
"""

from __future__ import annotations

import re
from pathlib import Path

from nasloop.memory import novelty
from nasloop.tasks.image_classification.seeds import list_seeds

ROOT = Path(__file__).resolve().parents[1]


def big_model(layers: int = 120) -> str:
    init = "\n".join(f"        self.conv{i} = nn.Conv2d(8, 8, 3, padding=1)\n"
                     f"        self.bn{i} = nn.BatchNorm2d(8)" for i in range(layers))
    fwd = "\n".join(f"        x = torch.relu(self.bn{i}(self.conv{i}(x)))" for i in range(layers))
    return ("import torch\nfrom torch import nn\n\n\nclass Net(nn.Module):\n"
            "    def __init__(self):\n        super().__init__()\n"
            f"        self.stem = nn.Conv2d(1, 8, 3, padding=1)\n{init}\n"
            "        self.fc = nn.Linear(8, 10)\n\n    def forward(self, x):\n"
            f"        x = self.stem(x)\n{fwd}\n        return self.fc(x.mean((2, 3)))\n")


def copies(code: str) -> dict[str, str]:
    return {"re-formatted": "# a copy\n" + code.replace("\n\n", "\n\n\n").replace("(x)", "( x )"),
            "renamed": re.sub(r"\bx\b", "x_in", code)}


def edits(code: str) -> dict[str, str]:
    """Real one-token edits: the first integer literal >= 2 of a layer call + 1, the first
    string literal changed, and (400-line model) one kernel 3 -> 5."""
    found = {}
    m = re.search(r"(nn\.(?:Conv2d|Linear)\([^)]*?)(\b[2-9]\d*\b)", code)
    if m:
        found["one number"] = code[:m.start(2)] + str(int(m.group(2)) + 1) + code[m.end(2):]
    s = re.search(r"(['\"])([a-z_]+)\1", code)
    if s:
        found["one string"] = code[:s.start(2)] + s.group(2) + "_x" + code[s.end(2):]
    return found


def same_now(a: str, b: str) -> bool:
    return (novelty.structural_hash(a) == novelty.structural_hash(b)
            or novelty.canonical_hash(a) == novelty.canonical_hash(b))


def same_before(a: str, b: str) -> bool:
    return (novelty.structural_hash(a) == novelty.structural_hash(b)
            or novelty.minhash(a).jaccard(novelty.minhash(b)) >= 0.9)


def main() -> None:
    fixtures = sorted((ROOT / "tests" / "fixtures" / "candidates").glob("*.py"))
    files = {p.stem: p.read_text() for p in fixtures}
    files.update({f"seed:{k}": v for k, v in list_seeds().items()})
    big = big_model()
    files["400-line model"] = big
    rows = []
    for name, code in files.items():
        variants = {**{f"copy: {k}": v for k, v in copies(code).items()},
                    **{f"edit: {k}": v for k, v in edits(code).items()}}
        if name == "400-line model":
            variants["edit: one layer"] = big.replace(
                "self.conv60 = nn.Conv2d(8, 8, 3, padding=1)",
                "self.conv60 = nn.Conv2d(8, 8, 5, padding=2)")
        for kind, variant in variants.items():
            if variant == code:
                continue
            rows.append((kind, same_before(code, variant), same_now(code, variant)))
    print("| variant | files | rejected before (MinHash >= 0.9) | rejected now (hashes) |")
    print("|---|---:|---:|---:|")
    for kind in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == kind]
        print(f"| {kind} | {len(sel)} | {sum(r[1] for r in sel)} | {sum(r[2] for r in sel)} |")


if __name__ == "__main__":
    main()
