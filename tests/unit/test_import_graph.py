"""No import cycle among nasloop's modules (imports run at module level; those inside
functions and under TYPE_CHECKING are deferred on purpose and do not count)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(path.relative_to(SRC).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _module_level_imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out: set[str] = set()

    def walk(body: list[ast.stmt]) -> None:
        for s in body:
            if isinstance(s, ast.If) and "TYPE_CHECKING" in ast.dump(s.test):
                continue
            if isinstance(s, ast.Import):
                out.update(a.name for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                base = s.module or ""
                if s.level:
                    parts = package.split(".")[: len(package.split(".")) - (s.level - 1)]
                    base = ".".join([*parts, *([s.module] if s.module else [])])
                out.add(base)
                out.update(f"{base}.{a.name}" for a in s.names)
            elif isinstance(s, (ast.If, ast.Try, ast.With)):
                for part in (s.body, getattr(s, "orelse", []), getattr(s, "finalbody", [])):
                    walk(part)
                for handler in getattr(s, "handlers", []):
                    walk(handler.body)

    walk(ast.parse(path.read_text(encoding="utf-8")).body)
    found = {m for m in out if m in known}
    for m in list(found):  # importing a.b.c runs a and a.b first
        parts = m.split(".")
        found.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts)))
                     if p in known and not name.startswith(p + ".") and p != name)
    return found - {name}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return [*path[path.index(w):], w]
            if w not in state and (found := visit(w)):
                return found
        state[v] = 2
        path.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_module_level_import_cycle() -> None:
    known = _modules()
    graph = {name: _module_level_imports(path, name, known) for name, path in known.items()}
    assert len(graph) > 100
    assert graph["nasloop.agents.base"] >= {"nasloop.memory.archive", "nasloop.tasks.base"}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
