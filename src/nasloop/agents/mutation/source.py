"""Read a model file with LibCST: the Net class, its layer constructor sites and their uses."""

from __future__ import annotations

import inspect
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import libcst as cst

from nasloop.agents.mutation.spec import MutationError


@dataclass(eq=False)
class LayerSite:
    """Where one layer of the model is constructed in ``Net.__init__``.

    ``name`` is the module's qualified name as torch sees it (``conv1``, ``block1.0``).
    A direct site is ``self.<name> = nn.X(...)`` (``stmt`` is that statement); a
    Sequential element is positional argument ``index`` of the ``container`` call.
    """

    name: str
    type_name: str
    call: cst.Call
    stmt: cst.SimpleStatementLine | None = None
    container: cst.Call | None = None
    index: int | None = None
    owner: str = "Net"  # the class whose __init__ builds it; other classes prefix the name

    @property
    def direct(self) -> bool:
        return self.container is None

    @property
    def local(self) -> str:
        """The name inside its owner class (``conv1`` for ``BasicBlock.conv1``)."""
        return self.name if self.owner == "Net" else self.name[len(self.owner) + 1 :]


@dataclass(eq=False)
class SourceInfo:
    """Everything the operators need to know about the file's syntax."""

    module: cst.Module
    net: cst.ClassDef
    init: cst.FunctionDef
    # layer sites of Net (``conv1``, ``block1.0``) and of the file's other classes, which
    # may be built several times (``BasicBlock.conv1``)
    sites: dict[str, LayerSite] = field(default_factory=dict)
    uses: dict[str, list[cst.Call]] = field(default_factory=dict)  # self.X(...) outside __init__
    refs: Counter[str] = field(default_factory=Counter)  # self.X references outside __init__
    attrs: dict[str, set[str]] = field(default_factory=dict)  # class -> its self.X names
    nn_prefix: str = "nn."
    functional_prefix: str = "torch.nn.functional."


@cache
def _nn_class(type_name: str) -> type | None:
    import torch.nn as nn

    cls = getattr(nn, type_name, None)
    return cls if isinstance(cls, type) and issubclass(cls, nn.Module) else None


@cache
def param_names(type_name: str) -> tuple[str, ...]:
    """Constructor parameter names of ``torch.nn.<type_name>`` (positional order)."""
    cls = _nn_class(type_name)
    if cls is None:
        return ()
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


def dotted(node: cst.BaseExpression) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return f"{head}.{node.attr.value}" if head else None
    return None


def self_attr(node: cst.BaseExpression) -> str | None:
    """``X`` when node is ``self.X``."""
    if (
        isinstance(node, cst.Attribute)
        and isinstance(node.value, cst.Name)
        and node.value.value == "self"
    ):
        return node.attr.value
    return None


def _module_aliases(module: cst.Module) -> tuple[set[str], set[str], set[str], bool]:
    """Names bound to torch.nn, torch.nn.functional, nn classes imported bare; torch imported."""
    nn_names: set[str] = set()
    f_names: set[str] = set()
    bare: set[str] = set()
    has_torch = False
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    full = dotted(alias.name)
                    bound = alias.asname.name.value if alias.asname else None  # type: ignore[union-attr]
                    if full == "torch" and bound is None:
                        has_torch = True
                    elif full == "torch.nn" and bound:
                        nn_names.add(bound)
                    elif full == "torch.nn.functional" and bound:
                        f_names.add(bound)
                    elif full in ("torch.nn", "torch.nn.functional"):
                        has_torch = True
            elif isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                mod = dotted(small.module) if small.module else None
                for alias in small.names:
                    name = alias.name.value if isinstance(alias.name, cst.Name) else None
                    bound = alias.asname.name.value if alias.asname else name  # type: ignore[union-attr]
                    if mod == "torch" and name == "nn":
                        nn_names.add(bound or "nn")
                    elif mod == "torch.nn" and name == "functional":
                        f_names.add(bound or "functional")
                    elif mod == "torch.nn" and name and _nn_class(name):
                        bare.add(bound or name)
    return nn_names, f_names, bare, has_torch


def nn_type(func: cst.BaseExpression, nn_names: set[str], bare: set[str]) -> str | None:
    """The torch.nn class name a constructor call refers to, if it is one."""
    path = dotted(func)
    if path is None:
        return None
    head, _, last = path.rpartition(".")
    if head in nn_names or head == "torch.nn":
        return last if _nn_class(last) else None
    if not head and path in bare:
        return path
    return None


def read_source(code: str) -> SourceInfo:
    """Parse the file and locate Net, its layer sites and their uses; MutationError if not."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as err:
        raise MutationError(f"the file does not parse: {str(err).splitlines()[0]}") from None
    net = next(
        (s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == "Net"), None
    )
    if net is None:
        raise MutationError("no top-level class Net in the file")
    init = next(
        (s for s in net.body.body if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"),
        None,
    )
    if init is None:
        raise MutationError("class Net has no __init__")
    nn_names, f_names, bare, has_torch = _module_aliases(module)
    if nn_names:
        nn_prefix = sorted(nn_names)[0] + "."
    elif has_torch:
        nn_prefix = "torch.nn."
    else:
        raise MutationError("the file imports neither torch nor torch.nn")
    info = SourceInfo(
        module=module,
        net=net,
        init=init,
        nn_prefix=nn_prefix,
        functional_prefix=(sorted(f_names)[0] + ".") if f_names else nn_prefix + "functional.",
    )
    _collect_sites(info, nn_names, bare)
    _collect_uses(info)
    return info


def _key(owner: str, name: str) -> str:
    return name if owner == "Net" else f"{owner}.{name}"


def _classes(info: SourceInfo) -> list[tuple[str, cst.ClassDef, cst.FunctionDef | None]]:
    """Net first, then every other top-level class of the file, with its __init__."""
    found = []
    for stmt in info.module.body:
        if isinstance(stmt, cst.ClassDef):
            init = next(
                (
                    s
                    for s in stmt.body.body
                    if isinstance(s, cst.FunctionDef) and s.name.value == "__init__"
                ),
                None,
            )
            found.append((stmt.name.value, stmt, init))
    return sorted(found, key=lambda item: item[0] != "Net")


def _collect_sites(info: SourceInfo, nn_names: set[str], bare: set[str]) -> None:
    for owner, _, init in _classes(info):
        if init is None:
            continue
        for stmt in init.body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                _collect_statement(info, owner, stmt, nn_names, bare)


def _collect_statement(
    info: SourceInfo,
    owner: str,
    stmt: cst.SimpleStatementLine,
    nn_names: set[str],
    bare: set[str],
) -> None:
    for small in stmt.body:
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target: cst.BaseExpression = small.targets[0].target
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target = small.target
        else:
            continue
        name = self_attr(target)
        if name is None or not isinstance(small.value, cst.Call):
            continue
        type_name = nn_type(small.value.func, nn_names, bare)
        if type_name is None or _key(owner, name) in info.sites:
            continue
        site = LayerSite(_key(owner, name), type_name, small.value, stmt=stmt, owner=owner)
        info.sites[site.name] = site
        if type_name == "Sequential":
            _collect_sequential(info, site, nn_names, bare)


def _collect_sequential(
    info: SourceInfo, parent: LayerSite, nn_names: set[str], bare: set[str]
) -> None:
    for index, arg in enumerate(parent.call.args):
        if arg.keyword is not None or arg.star:
            return  # an OrderedDict or *list Sequential: its elements are not addressable
        if not isinstance(arg.value, cst.Call):
            continue
        type_name = nn_type(arg.value.func, nn_names, bare)
        if type_name is None:
            continue
        site = LayerSite(
            f"{parent.name}.{index}",
            type_name,
            arg.value,
            container=parent.call,
            index=index,
            owner=parent.owner,
        )
        info.sites[site.name] = site
        if type_name == "Sequential":
            _collect_sequential(info, site, nn_names, bare)


class _UseCollector(cst.CSTVisitor):
    def __init__(self, info: SourceInfo, owner: str, in_init: bool) -> None:
        self.info = info
        self.owner = owner
        self.in_init = in_init

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = self_attr(node)
        if name is not None:
            self.info.attrs.setdefault(self.owner, set()).add(name)
            if not self.in_init:
                self.info.refs[_key(self.owner, name)] += 1

    def visit_Call(self, node: cst.Call) -> None:
        name = self_attr(node.func)
        if name is not None and not self.in_init:
            self.info.uses.setdefault(_key(self.owner, name), []).append(node)


def _collect_uses(info: SourceInfo) -> None:
    for owner, cls, init in _classes(info):
        for stmt in cls.body.body:
            stmt.visit(_UseCollector(info, owner, in_init=stmt is init))


def get_arg(call: cst.Call, type_name: str, param: str) -> cst.Arg | None:
    """The argument bound to constructor parameter ``param``, positional or keyword."""
    names = param_names(type_name)
    for position, arg in enumerate(call.args):
        if arg.star:
            return None
        if arg.keyword is not None:
            if arg.keyword.value == param:
                return arg
        elif position < len(names) and names[position] == param:
            return arg
    return None


def set_arg(call: cst.Call, type_name: str, param: str, value: cst.BaseExpression) -> cst.Call:
    """A copy of ``call`` with ``param`` bound to ``value`` (appended as keyword if absent)."""
    target = get_arg(call, type_name, param)
    if target is not None:
        args = [a.with_changes(value=value) if a is target else a for a in call.args]
        return call.with_changes(args=args)
    args = list(call.args)
    new = cst.Arg(
        value=value,
        keyword=cst.Name(param),
        equal=cst.AssignEqual(
            whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
        ),
    )
    if args:
        trailing = args[-1].comma
        separator = (
            args[-2].comma
            if len(args) > 1 and isinstance(args[-2].comma, cst.Comma)
            else cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        )
        args[-1] = args[-1].with_changes(comma=separator)
        new = new.with_changes(comma=trailing)
    return call.with_changes(args=[*args, new])


def drop_arg(call: cst.Call, type_name: str, param: str) -> cst.Call:
    """A copy of ``call`` without ``param`` (only keyword or trailing positional args)."""
    target = get_arg(call, type_name, param)
    if target is None:
        return call
    args = [a for a in call.args if a is not target]
    if args and target is call.args[-1]:
        args[-1] = args[-1].with_changes(comma=target.comma)
    return call.with_changes(args=args)
