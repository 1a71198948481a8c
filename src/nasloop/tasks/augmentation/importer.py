"""`nasloop corpus import-transforms`: an external evaluated transform corpus as records.

The layout: CODE_DIR holds `NAME.py` files, each defining `transform(norm)` that returns a
classic torchvision `Compose` ending in Resize / ToTensor / Normalize(*norm); RESULTS_DIR
holds `NAME.json` with `accuracy`, `batch`, `lr`, `momentum` and optionally `epoch`,
`transform`, `uid`, matched by file name. Every file is accounted for: imported, or counted
under the reason it was not (never dropped silently).
"""

from __future__ import annotations

import ast
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasloop.tasks.augmentation.records import TransformRecord

REQUIRED = ("accuracy", "batch", "lr", "momentum")
ENDING = ("Resize", "ToTensor", "Normalize")


@dataclass
class ImportReport:
    imported: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> files
    examples: dict[str, str] = field(default_factory=dict)  # reason -> first file name

    def skip(self, reason: str, name: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, name)


def _code_problem(code: str) -> str | None:
    """Why a code file is not a transform of the layout (None: it is one)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return "code does not parse"
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef)
               and n.name == "transform"), None)
    if fn is None:
        return "code defines no transform(norm)"
    if len(fn.args.args) != 1:
        return "transform does not take one argument (norm)"
    calls = [n for n in ast.walk(fn) if isinstance(n, ast.Call)
             and getattr(n.func, "attr", getattr(n.func, "id", None)) == "Compose"]
    if not calls or not calls[0].args or not isinstance(calls[0].args[0], ast.List):
        return "transform returns no Compose([...])"
    names = [getattr(e.func, "attr", getattr(e.func, "id", None))
             for e in calls[0].args[0].elts if isinstance(e, ast.Call)]
    if tuple(names[-3:]) != ENDING:
        return "Compose does not end in Resize, ToTensor, Normalize"
    return None


def _result_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "result is not a JSON object"
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        return f"result lacks {missing[0]}"
    acc = data["accuracy"]
    if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not math.isfinite(acc) \
            or not 0.0 <= acc <= 1.0:
        return "result accuracy is not a number in [0, 1]"
    return None


def import_transforms(code_dir: Path, results_dir: Path
                      ) -> tuple[list[TransformRecord], ImportReport]:
    """The records of every matching (code, result) pair, and what was not imported."""
    from nasloop.memory.novelty import structural_hash

    report = ImportReport()
    results = {p.stem: p for p in sorted(results_dir.glob("*.json"))}
    codes = {p.stem: p for p in sorted(code_dir.glob("*.py"))}
    for name in sorted(set(results) - set(codes)):
        report.skip("result without a code file", results[name].name)
    records: list[TransformRecord] = []
    seen: set[str] = set()
    for name, path in codes.items():
        try:
            code = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            report.skip("code is not UTF-8 text", path.name)
            continue
        problem = _code_problem(code)
        if problem is None and name not in results:
            problem = "code without a result file"
        data: Any = None
        if problem is None:
            try:
                data = json.loads(results[name].read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError, OSError):
                problem = "result is not valid JSON"
            else:
                problem = _result_problem(data)
        rid = structural_hash(code) if problem is None else ""
        if problem is None and rid in seen:
            problem = "duplicate code"
        if problem is not None:
            report.skip(problem, path.name)
            continue
        seen.add(rid)
        records.append(TransformRecord(
            id=rid, code=code, origin=f"import:{path.resolve()}",
            accuracy=float(data["accuracy"]), recorded=data,
            description=str(data.get("transform") or name)))
        report.imported += 1
    return records, report
