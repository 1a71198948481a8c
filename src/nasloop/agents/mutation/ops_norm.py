"""Normalisation: add a norm after a conv/linear, or swap a norm's kind."""

from __future__ import annotations

from math import gcd

from torch import nn

from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, insert_elements, replace_call, wrap_call
from nasloop.agents.mutation.source import LayerSite, get_arg
from nasloop.agents.mutation.spec import Mutation, MutationError

KINDS = ("batch", "group", "instance")
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
_SUFFIX = {"batch": "bn", "group": "gn", "instance": "inorm"}


def norm_expr(prefix: str, kind: str, channels: str, groups: int, dims: int) -> str:
    """Constructor source of a ``kind`` norm over ``channels`` (source text: a literal or
    the expression the layer itself uses); ``groups`` for a GroupNorm; dims 1 for linears."""
    if dims == 1:
        if kind != "batch":
            raise MutationError(f"a {kind} norm needs a conv output; use kind=batch")
        return f"{prefix}BatchNorm1d({channels})"
    if kind == "batch":
        return f"{prefix}BatchNorm2d({channels})"
    if kind == "group":
        return f"{prefix}GroupNorm({groups}, {channels})"
    if kind == "instance":
        return f"{prefix}InstanceNorm2d({channels}, affine=True)"
    raise MutationError(f"unknown norm kind {kind!r}; known: {', '.join(KINDS)}")


def width_source(ctx: ModelContext, site: LayerSite, param: str) -> tuple[str, int]:
    """(source text, GroupNorm-safe group count) of the width ``param`` of ``site``.

    The text is the constructor's own argument when it has one (``planes`` in a helper
    class built with several widths), else the literal value; the group count divides the
    width of every object the site builds.
    """
    widths = [getattr(ctx.model.get_submodule(p), param) for p in ctx.instances(site)]
    if not widths:
        raise MutationError(f"{site.name} is never built")
    arg = get_arg(site.call, site.type_name, param)
    text = ctx.src.module.code_for_node(arg.value) if arg is not None else str(widths[0])
    if arg is None and len(set(widths)) > 1:
        raise MutationError(f"{site.name} has different widths in its objects")
    return text, gcd(8, *widths)


def _followed_by_norm(ctx: ModelContext, site: LayerSite) -> bool:
    try:
        graph = ctx.graph()
    except MutationError:
        return False
    paths = set(ctx.instances(site))
    for node in graph.traced.graph.nodes:
        if node.op == "call_module" and node.target in paths:
            for user in node.users:
                if user.op == "call_module" and isinstance(
                    ctx.model.get_submodule(str(user.target)), _NORM_TYPES
                ):
                    return True
    return False


def produces_logits(ctx: ModelContext, site: LayerSite) -> bool:
    """Whether (an object of) the layer writes the model's output."""
    try:
        graph = ctx.graph()
    except MutationError:
        return False
    for path in ctx.instances(site):
        var = graph.out_var.get(path)
        if var is not None and any("model output" in r for r in graph.group(var).frozen):
            return True
    return False


def _output(ctx: ModelContext, site: LayerSite) -> tuple[str, int, int]:
    module = ctx.module(site.name)
    if isinstance(module, nn.Conv2d):
        return (*width_source(ctx, site, "out_channels"), 2)
    if isinstance(module, nn.Linear):
        return (*width_source(ctx, site, "out_features"), 1)
    raise MutationError(f"{site.name} is a {site.type_name}, not a Conv2d or Linear")


def add_after(ctx: ModelContext, site: LayerSite, new_module: str, base: str) -> Edits:
    """Edits putting ``new_module`` right after layer ``site`` (its output goes through it)."""
    edits = Edits()
    if site.direct:
        call = ctx.single_use(site)
        attr = ctx.fresh_attr(base, site.owner)
        assert site.stmt is not None
        edits.after[site.stmt] = [f"self.{attr} = {new_module}"]
        edits.call(call, wrap_call(f"self.{attr}"))
    else:
        assert site.container is not None and site.index is not None
        edits.call(site.container, insert_elements(site.index + 1, [new_module]))
    return edits


@register("norm", "add a normalisation layer after a conv (or a hidden linear)")
class Norm:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.Conv2d, nn.Linear):
            if _followed_by_norm(ctx, site) or not _usable(ctx, site):
                continue
            kinds = KINDS if isinstance(ctx.module(site.name), nn.Conv2d) else ("batch",)
            found += [Mutation(op="norm", layer=site.name, args={"kind": k}) for k in kinds]
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        kind = str(mutation.args.get("kind", "batch"))
        channels, groups, dims = _output(ctx, site)
        if _followed_by_norm(ctx, site):
            raise MutationError(f"{site.name} is already followed by a normalisation layer")
        new = norm_expr(ctx.src.nn_prefix, kind, channels, groups, dims)
        return add_after(ctx, site, new, f"{site.local}_{_SUFFIX.get(kind, 'norm')}").apply(
            ctx.src.module
        )


def _usable(ctx: ModelContext, site: LayerSite) -> bool:
    """A hidden layer (not the classifier) that the operator can wrap."""
    if produces_logits(ctx, site) or not ctx.instances(site):
        return False
    if site.direct:
        try:
            ctx.single_use(site)
        except MutationError:
            return False
    return True


@register("norm_swap", "change a normalisation layer's kind (batch, group, instance)")
class NormSwap:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d):
            current = _kind(ctx.module(site.name))
            found += [
                Mutation(op="norm_swap", layer=site.name, args={"kind": k})
                for k in KINDS
                if k != current
            ]
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        module = ctx.module(site.name)
        if not isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)):
            raise MutationError(f"{site.name} is a {site.type_name}, not a 2-D normalisation")
        kind = str(mutation.args.get("kind", "group"))
        if kind == _kind(module):
            raise MutationError(f"{site.name} is already a {kind} norm")
        param = "num_channels" if isinstance(module, nn.GroupNorm) else "num_features"
        channels, groups = width_source(ctx, site, param)
        new = norm_expr(ctx.src.nn_prefix, kind, channels, groups, 2)
        edits = Edits()
        edits.call(site.call, replace_call(new))
        return edits.apply(ctx.src.module)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.GroupNorm):
        return "group"
    return "instance" if isinstance(module, nn.InstanceNorm2d) else "batch"
