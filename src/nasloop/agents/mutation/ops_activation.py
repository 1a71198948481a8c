"""activation: swap every activation (modules and functional calls), or one layer's."""

from __future__ import annotations

import libcst as cst

from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, expr
from nasloop.agents.mutation.source import dotted
from nasloop.agents.mutation.spec import Mutation, MutationError

KINDS = ("ReLU", "GELU", "SiLU", "LeakyReLU", "Tanh")
# module class -> functional name; the modules recognised as activations
_MODULES = {
    "ReLU": "relu", "ReLU6": "relu6", "GELU": "gelu", "SiLU": "silu", "LeakyReLU": "leaky_relu",
    "ELU": "elu", "Tanh": "tanh", "Mish": "mish", "Hardswish": "hardswish",
}  # fmt: skip
_FUNCS = {v: k for k, v in _MODULES.items()} | {"relu_": "ReLU"}
_INPLACE = {"ReLU", "SiLU", "LeakyReLU", "ReLU6", "ELU"}
_EXTRA = {"LeakyReLU": "0.1"}


class _Finder(cst.CSTVisitor):
    """Activation constructor calls and functional calls anywhere in the file."""

    def __init__(self, nn_prefix: str, site_calls: set[cst.Call]) -> None:
        self.nn_prefix = nn_prefix
        self.site_calls = site_calls
        self.found: list[tuple[cst.Call, str, bool]] = []  # (call, kind, is_module)

    def visit_Call(self, node: cst.Call) -> None:
        path = dotted(node.func) or ""
        head, _, last = path.rpartition(".")
        if last in _MODULES and (node in self.site_calls or f"{head}." == self.nn_prefix):
            self.found.append((node, last, True))
        elif last in _FUNCS and head and node.args and not node.args[0].star:
            if head in ("F", "torch", "functional") or head.endswith(("nn.functional", "torch")):
                self.found.append((node, _FUNCS[last], False))


def find_activations(ctx: ModelContext) -> list[tuple[cst.Call, str, bool]]:
    """``(call, kind, is_module)`` for every activation the operator can swap."""
    finder = _Finder(ctx.src.nn_prefix, {s.call for s in ctx.sites.values()})
    ctx.src.module.visit(finder)
    return finder.found


def _module_call(ctx: ModelContext, call: cst.Call, kind: str) -> cst.Call:
    args = []
    inplace = any(
        a.keyword is not None and a.keyword.value == "inplace" and dotted(a.value) == "True"
        for a in call.args
    )
    if kind in _EXTRA:
        args.append(_EXTRA[kind])
    if inplace and kind in _INPLACE:
        args.append("inplace=True")
    new = expr(f"{ctx.src.nn_prefix}{kind}({', '.join(args)})")
    assert isinstance(new, cst.Call)
    return new


def _functional_call(ctx: ModelContext, call: cst.Call, kind: str) -> cst.Call:
    prefix = ctx.src.functional_prefix
    extra = f", {_EXTRA[kind]}" if kind in _EXTRA else ""
    new = expr(f"{prefix}{_MODULES[kind]}(__x__{extra})")
    assert isinstance(new, cst.Call)
    first = cst.Arg(value=call.args[0].value)
    return new.with_changes(args=[first, *new.args[1:]])


@register("activation", "swap the activation function (all of them, or one layer's)")
class Activation:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        kinds = {kind for _, kind, _ in find_activations(ctx)}
        if not kinds:
            return []
        return [Mutation(op="activation", args={"kind": kind}) for kind in KINDS if kinds != {kind}]

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        kind = str(mutation.args.get("kind", ""))
        match = {k.lower(): k for k in KINDS}.get(kind.lower())
        if match is None:
            raise MutationError(f"unknown activation {kind!r}; known: {', '.join(KINDS)}")
        found = find_activations(ctx)
        if mutation.layer is not None:
            site = ctx.site(mutation.layer)
            found = [f for f in found if f[0] is site.call]
            if not found:
                raise MutationError(f"{mutation.layer} is not an activation module")
        found = [f for f in found if f[1] != match]
        if not found:
            raise MutationError(f"there is no activation other than {match} to swap")
        edits = Edits()
        for call, _, is_module in found:
            maker = _module_call if is_module else _functional_call
            edits.call(call, lambda c, m=maker: m(ctx, c, match))
        return edits.apply(ctx.src.module)
