"""Assemble k expert families into one LEMUR-form mixture file, with LibCST.

Each family's `Net` becomes its own expert class (`LenetExpert`), top-level helpers whose
names collide with another family's (or the mixture's own) names are renamed everywhere they
are referenced (`Block` -> `Block_resnet_small`), the imports are merged, and the union of
the experts' hyperparameters is declared with defaults. The experts' code and comments are
kept as written. The mixture itself (gate, recipe) is `mixture.txt`; its settings are the
file's `MOE` literal and the families its `FAMILIES` literal, both read back statically.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import libcst as cst
from libcst.metadata import GlobalScope, MetadataWrapper, ScopeProvider

from nasloop.tasks.ensemble.settings import MoeSettings

LITERALS = ("FAMILIES", "EXPERTS", "EXPERT_FORMS", "HYPERPARAMETERS", "MOE",
            "supported_hyperparameters")
UNKNOWN_DEFAULT = 0.5  # a key no table knows: the middle of the NN Dataset's [0, 1] range
TEMPLATE_IMPORTS = ("import math", "import torch")


class AssembleError(ValueError):
    """Families that cannot be assembled (one-line reason)."""


@cache
def mixture_source() -> str:
    """The gate and mixture code every assembled file ends with."""
    return (resources.files(__package__) / "mixture.txt").read_text(encoding="utf-8")


@cache
def reserved_names() -> frozenset[str]:
    """Top-level names the mixture defines (an expert's helper of that name is renamed)."""
    tree = ast.parse(mixture_source())
    defined = {n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    return frozenset(defined | set(LITERALS) | {"math", "torch"})


def expert_class(family: str) -> str:
    """`resnet_small` -> `ResnetSmallExpert`."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", family) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) + "Expert"
    return name if name[0].isalpha() else f"F{name}"


def ident(family: str) -> str:
    """The family's name as an identifier suffix."""
    return re.sub(r"\W", "_", family)


@dataclass(frozen=True)
class Family:
    """One family parsed: its module, form, declared hyperparameters and top-level names."""

    name: str
    module: cst.Module
    form: str  # lemur | bare (takes in_shape, out_shape) | bare0 (takes nothing)
    hparams: frozenset[str]
    defined: frozenset[str]  # top-level classes, functions and assigned names
    imported: frozenset[str]  # top-level names bound by imports


def _is_import(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _declared_keys(tree: ast.Module, name: str) -> frozenset[str]:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "supported_hyperparameters":
            for ret in ast.walk(node):
                if isinstance(ret, ast.Return) and ret.value is not None:
                    try:
                        keys = ast.literal_eval(ret.value)
                    except ValueError:
                        break
                    return frozenset(str(k) for k in keys)
            raise AssembleError(f"{name}: supported_hyperparameters() does not return a "
                                "literal set of names")
    return frozenset()


def parse_family(name: str, code: str) -> Family:
    """Parse one family (AssembleError when it is not a model file of either form)."""
    from nasloop.sandbox.failures import ContractError
    from nasloop.tasks.image_classification.contract import detect_form, init_arity

    try:
        form = detect_form(code)
    except ContractError as err:
        raise AssembleError(f"{name}: {err}") from None
    if form == "bare" and not init_arity(code):
        form = "bare0"
    tree = ast.parse(code)
    defined: set[str] = set()
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                defined |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                imported.add((alias.asname or alias.name).split(".")[0])
    return Family(name, cst.parse_module(code), form, _declared_keys(tree, name),
                  frozenset(defined - {"supported_hyperparameters"}), frozenset(imported))


class _Renamer(cst.CSTTransformer):
    """Renames the Name nodes picked out (by identity) by the scope analysis."""

    def __init__(self, targets: dict[int, str]) -> None:
        self.targets = targets

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
        new = self.targets.get(id(original_node))
        return updated_node.with_changes(value=new) if new else updated_node


def rename_globals(module: cst.Module, renames: dict[str, str]) -> cst.Module:
    """`module` with each top-level name in `renames` renamed where it is bound and
    everywhere it is referenced (local names that shadow it are left alone)."""
    wrapper = MetadataWrapper(module)
    scopes = wrapper.resolve(ScopeProvider)
    scope = next(s for s in scopes.values() if isinstance(s, GlobalScope))
    targets: dict[int, str] = {}
    for old, new in renames.items():
        for assignment in scope.assignments[old]:
            node = getattr(assignment, "node", None)
            if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
                targets[id(node.name)] = new
            elif isinstance(node, cst.Name):
                targets[id(node)] = new
            for ref in assignment.references:
                if isinstance(ref.node, cst.Name):
                    targets[id(ref.node)] = new
    return wrapper.module.visit(_Renamer(targets))


def _kept_body(module: cst.Module) -> tuple[list[str], list[cst.BaseStatement]]:
    """(the import statements' code, the other statements but
    supported_hyperparameters and any `if __name__ == "__main__":` block)."""
    imports, body = [], []
    for stmt in module.body:
        if _is_import(stmt):
            imports += [module.code_for_node(s).strip() for s in stmt.body]  # type: ignore[attr-defined]
        elif isinstance(stmt, cst.FunctionDef) and stmt.name.value == "supported_hyperparameters":
            continue
        elif isinstance(stmt, cst.If) and "__main__" in module.code_for_node(stmt.test):
            continue
        else:
            body.append(stmt)
    return imports, body


def _defaults(keys: set[str]) -> dict[str, Any]:
    from nasloop.tasks.image_classification.prm import DEFAULTS

    base = {"lr": 0.01, "momentum": 0.9, "batch": 32, "epoch": 1}
    return {k: base.get(k, DEFAULTS[k][0] if k in DEFAULTS else UNKNOWN_DEFAULT)
            for k in sorted(keys)}


def _known(key: str) -> bool:
    from nasloop.tasks.image_classification.prm import BASE, DEFAULTS

    return key in DEFAULTS or key in BASE


def assemble(families: list[tuple[str, str]], moe: MoeSettings | None = None) -> str:
    """One mixture file from (family name, source) pairs, in the order given."""
    if len(families) < 2:
        raise AssembleError("an ensemble needs at least two families")
    names = [n for n, _ in families]
    if len(set(names)) != len(names):
        raise AssembleError(f"a family appears twice in {names}")
    parsed = [parse_family(n, c) for n, c in families]
    moe = moe or MoeSettings()
    classes: list[str] = []
    taken = set(reserved_names()).union(*(f.defined | f.imported for f in parsed))
    for f in parsed:
        cls = expert_class(f.name)
        while cls in taken or cls in classes:
            cls += "_"
        classes.append(cls)
    imports: list[str] = list(TEMPLATE_IMPORTS)
    sections: list[str] = []
    for i, (f, cls) in enumerate(zip(parsed, classes, strict=True)):
        others = set(reserved_names()).union(
            *(g.defined | g.imported for j, g in enumerate(parsed) if j != i))
        renames = {n: f"{n}_{ident(f.name)}" for n in sorted(f.defined - {"Net"}) if n in others}
        renames["Net"] = cls
        got, body = _kept_body(rename_globals(f.module, renames))
        imports += got
        code = f.module.with_changes(body=body, header=f.module.header).code.strip("\n")
        sections.append(f"# ---- expert {i}: {f.name} ({f.form} form) " + "-" * 20 + "\n"
                        + code + "\n")
    merged = sorted(dict.fromkeys(imports), key=lambda s: not s.startswith("from __future__"))
    hparams = set().union(*(f.hparams for f in parsed))
    declared = sorted(k for k in hparams | {"lr", "momentum"} if _known(k))
    head = (f'"""A mixture of {len(parsed)} experts assembled by nasloop: '
            f'{", ".join(names)}.\n\nThe experts are the families\' own code; a gate weighs '
            'their logits (see Net below)."""\n\n' + "\n".join(merged) + "\n\n"
            f"FAMILIES = {tuple(names)!r}\n")
    tail = (f"EXPERTS = ({', '.join(classes)},)\n"
            f"EXPERT_FORMS = {tuple(f.form for f in parsed)!r}\n"
            "# the union of the experts' hyperparameters, with the defaults they get\n"
            f"HYPERPARAMETERS = {_defaults(hparams)!r}\n"
            f"MOE = {moe.model_dump()!r}\n\n\n"
            "def supported_hyperparameters():\n"
            f"    return {set(declared)!r}\n")
    return head + "\n\n" + "\n\n".join(sections) + "\n\n" + tail + mixture_source()


def _literal(code: str, name: str) -> Any:
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise AssembleError(f"not an assembled mixture: {err.msg}") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                break
    raise AssembleError(f"not an assembled mixture: no literal {name} = ...")


def families_of(code: str) -> tuple[str, ...]:
    """The families of an assembled file (its `FAMILIES` literal), statically."""
    found = _literal(code, "FAMILIES")
    if not isinstance(found, tuple) or not all(isinstance(f, str) for f in found):
        raise AssembleError("FAMILIES is not a tuple of names")
    return found


def moe_of(code: str) -> MoeSettings:
    """The gate and recipe settings of an assembled file (its `MOE` literal), validated."""
    from pydantic import ValidationError

    try:
        return MoeSettings.model_validate(_literal(code, "MOE"))
    except ValidationError as err:
        raise AssembleError(f"MOE: {err.errors()[0]['msg']}") from None


def with_moe(code: str, moe: MoeSettings) -> str:
    """`code` with its `MOE` literal replaced (LibCST: everything else kept as it is)."""

    class _Set(cst.CSTTransformer):
        def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
            if any(isinstance(t.target, cst.Name) and t.target.value == "MOE"
                   for t in original_node.targets):
                return updated_node.with_changes(
                    value=cst.parse_expression(repr(moe.model_dump())))
            return updated_node

    moe_of(code)
    return cst.parse_module(code).visit(_Set()).code
