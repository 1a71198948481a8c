"""The hyperparameter keys a LEMUR file reads, and keeping ``supported_hyperparameters()``
in step with them for the keys the optimizer rewrite owns (``lr``, ``momentum``)."""

from __future__ import annotations

import libcst as cst

from nasloop.agents.mutation.spec import MutationError
from nasloop.tasks.recipes.cstedit import respaced

MANAGED = ("lr", "momentum")  # the optimizer rewrite adds/removes these; other keys stay
SUPPORTED = "supported_hyperparameters"


def prm_names(module: cst.Module) -> set[str]:
    """The names the file's functions give the hyperparameter dict (``prm`` by default):
    Net.__init__'s fourth parameter and train_setup's second, in every class."""
    names = {"prm"}
    for stmt in module.body:
        if not isinstance(stmt, cst.ClassDef):
            continue
        for fn in stmt.body.body:
            if isinstance(fn, cst.FunctionDef):
                position = {"__init__": 3, "train_setup": 1}.get(fn.name.value)
                params = fn.params.params
                if position is not None and len(params) > position:
                    names.add(params[position].name.value)
    return names


class _KeysRead(cst.CSTVisitor):
    def __init__(self, names: set[str]) -> None:
        self.names = names
        self.keys: set[str] = set()

    def visit_Subscript(self, node: cst.Subscript) -> None:
        if isinstance(node.value, cst.Name) and node.value.value in self.names:
            index = node.slice[0].slice if len(node.slice) == 1 else None
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                self.keys.add(str(index.value.evaluated_value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if (isinstance(func, cst.Attribute) and func.attr.value == "get"
                and isinstance(func.value, cst.Name) and func.value.value in self.names
                and node.args and isinstance(node.args[0].value, cst.SimpleString)):
            self.keys.add(str(node.args[0].value.evaluated_value))


def keys_read(node: cst.CSTNode, names: set[str]) -> set[str]:
    """Literal keys read as ``prm["k"]`` or ``prm.get("k", ...)`` anywhere under ``node``."""
    visitor = _KeysRead(names)
    node.visit(visitor)
    return visitor.keys


KeyLiteral = cst.Set | cst.List | cst.Tuple


def _declared(module: cst.Module) -> KeyLiteral:
    fns = [s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == SUPPORTED]
    returns = [
        small
        for line in (fns[-1].body.body if fns else ())
        if isinstance(line, cst.SimpleStatementLine)
        for small in line.body
        if isinstance(small, cst.Return)
    ]
    value = returns[0].value if len(returns) == 1 else None
    if not isinstance(value, KeyLiteral) or not all(
        isinstance(e, cst.Element) and isinstance(e.value, cst.SimpleString)
        for e in value.elements
    ):
        raise MutationError(f"{SUPPORTED}() does not return one literal set of strings")
    return value


def _key(element: cst.BaseElement) -> str:
    assert isinstance(element.value, cst.SimpleString)
    return str(element.value.evaluated_value)


def _rebuilt(node: KeyLiteral, elements: list[cst.BaseElement]) -> KeyLiteral:
    """``node`` with ``elements``, separated like the original, trailing comma kept."""
    fixed = respaced(node.elements, elements)
    lone = len(fixed) == 1 and not isinstance(fixed[0].comma, cst.Comma)
    if isinstance(node, cst.Tuple) and lone:
        fixed[0] = fixed[0].with_changes(comma=cst.Comma())
    return node.with_changes(elements=fixed)


def sync_supported(module: cst.Module, quote: str = '"') -> cst.Module:
    """Make ``supported_hyperparameters()`` declare each MANAGED key iff the file reads it,
    keeping every other key and the literal's style; MutationError if it is not a literal."""
    read = keys_read(module, prm_names(module))
    literal = _declared(module)
    elements = list(literal.elements)
    declared = [_key(e) for e in elements]
    if quote not in ("'", '"'):
        quote = '"'
    if elements:
        first = elements[0].value
        assert isinstance(first, cst.SimpleString)
        quote = first.quote if first.quote in ("'", '"') else quote
    for rank, key in enumerate(MANAGED):
        if key in read and key not in declared:
            before = [declared.index(k) for k in MANAGED[:rank] if k in declared]
            at = max(before) + 1 if before else 0
            elements.insert(at, cst.Element(cst.SimpleString(f"{quote}{key}{quote}")))
            declared.insert(at, key)
        elif key not in read and key in declared:
            at = declared.index(key)
            del elements[at], declared[at]
    if declared == [_key(e) for e in literal.elements]:
        return module
    new = _rebuilt(literal, elements)
    return module.deep_replace(literal, new)  # type: ignore[return-value]
