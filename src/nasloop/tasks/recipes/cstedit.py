"""Small LibCST helpers the recipe rewrites share: what the imports bind, comma-separated
lists, module-level statements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import libcst as cst

from nasloop.agents.mutation.source import dotted

Item = TypeVar("Item", cst.Arg, cst.BaseElement)


def respaced(old: Sequence[cst.Arg | cst.BaseElement], new: list[Item]) -> list[Item]:
    """``new`` items separated like ``old`` (its first separator), keeping its trailing comma."""
    trailing = old[-1].comma if old else cst.MaybeSentinel.DEFAULT
    sep = next((item.comma for item in old[:-1] if isinstance(item.comma, cst.Comma)), None)
    sep = sep or cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
    last = len(new) - 1
    return [item.with_changes(comma=sep if i < last else trailing) for i, item in enumerate(new)]


def bindings(module: cst.Module) -> dict[str, str]:
    """What the top-level imports bind: local name -> dotted path (``nn`` -> ``torch.nn``)."""
    bound: dict[str, str] = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    path = dotted(alias.name) or ""
                    if alias.asname is None:
                        bound[path.split(".")[0]] = path.split(".")[0]
                    elif isinstance(alias.asname.name, cst.Name):
                        bound[alias.asname.name.value] = path
            elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                base = dotted(small.module) if small.module and not small.relative else None
                for alias in small.names if base else ():
                    name = dotted(alias.name)
                    local = (alias.asname.name.value if alias.asname
                             and isinstance(alias.asname.name, cst.Name) else name)
                    if name and local:
                        bound[local] = f"{base}.{name}"
    return bound


def resolve(node: cst.BaseExpression, bound: dict[str, str]) -> str | None:
    """The dotted path a Name/Attribute chain refers to through the imports, if any."""
    path = dotted(node)
    head, _, rest = (path or "").partition(".")
    full = bound.get(head)
    if full is None:
        return None
    return f"{full}.{rest}" if rest else full


def spelling(bound: dict[str, str], path: str) -> str | None:
    """The shortest way the file can spell module ``path`` plus a dot (``nn.``), if any."""
    found = [f"{local}." for local, full in bound.items() if full == path]
    head = path.split(".")[0]
    if bound.get(head) == head:
        found.append(f"{path}.")
    return min(found, key=len) if found else None


def binds_torch(module: cst.Module) -> bool:
    """True when a module-level import binds ``torch`` to the torch package."""
    return bindings(module).get("torch") == "torch"


def _is_import(stmt: cst.BaseStatement) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in stmt.body
    )


def ensure_import_torch(module: cst.Module) -> cst.Module:
    """``module`` with ``import torch`` after its last top-level import, unless it has one."""
    if binds_torch(module):
        return module
    body = list(module.body)
    imports = [i for i, stmt in enumerate(body) if _is_import(stmt)]
    at = imports[-1] + 1 if imports else 0
    if not imports and body and _is_docstring(body[0]):
        at = 1
    body.insert(at, cst.parse_statement("import torch\n"))
    return module.with_changes(body=body)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def insert_at(module: cst.Module, index: int, stmt: cst.BaseStatement, blank: int = 1
              ) -> cst.Module:
    """``module`` with ``stmt`` inserted at ``index`` of its body, ``blank`` blank lines
    above it (the statement now after it keeps its own blank lines and comments)."""
    lines = [cst.EmptyLine()] * blank if index else []
    body = list(module.body)
    body.insert(index, stmt.with_changes(leading_lines=lines))
    return module.with_changes(body=body)
