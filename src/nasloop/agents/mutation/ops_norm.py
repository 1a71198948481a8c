"""Normalisation: add a norm after a conv/linear, or swap a norm's kind."""

from __future__ import annotations

from math import gcd

from torch import nn

from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, insert_elements, replace_call, wrap_call
from nasloop.agents.mutation.source import LayerSite
from nasloop.agents.mutation.spec import Mutation, MutationError

KINDS = ("batch", "group", "instance")
_NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm)
_SUFFIX = {"batch": "bn", "group": "gn", "instance": "inorm"}


def norm_expr(prefix: str, kind: str, channels: int, dims: int) -> str:
    """Constructor source of a ``kind`` norm over ``channels`` (dims: 1 for linear outputs)."""
    if dims == 1:
        if kind != "batch":
            raise MutationError(f"a {kind} norm needs a conv output; use kind=batch")
        return f"{prefix}BatchNorm1d({channels})"
    if kind == "batch":
        return f"{prefix}BatchNorm2d({channels})"
    if kind == "group":
        return f"{prefix}GroupNorm({gcd(channels, 8)}, {channels})"
    if kind == "instance":
        return f"{prefix}InstanceNorm2d({channels}, affine=True)"
    raise MutationError(f"unknown norm kind {kind!r}; known: {', '.join(KINDS)}")


def _followed_by_norm(ctx: ModelContext, name: str) -> bool:
    try:
        graph = ctx.graph()
    except MutationError:
        return False
    for node in graph.traced.graph.nodes:
        if node.op == "call_module" and node.target == name:
            for user in node.users:
                if user.op == "call_module" and isinstance(
                    ctx.module(str(user.target)), _NORM_TYPES
                ):
                    return True
    return False


def _output(ctx: ModelContext, site: LayerSite) -> tuple[int, int]:
    module = ctx.module(site.name)
    if isinstance(module, nn.Conv2d):
        return module.out_channels, 2
    if isinstance(module, nn.Linear):
        return module.out_features, 1
    raise MutationError(f"{site.name} is a {site.type_name}, not a Conv2d or Linear")


def add_after(ctx: ModelContext, site: LayerSite, new_module: str, base: str) -> Edits:
    """Edits putting ``new_module`` right after layer ``site`` (its output goes through it)."""
    edits = Edits()
    if site.direct:
        call = ctx.single_use(site)
        attr = ctx.fresh_attr(base)
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
            if _followed_by_norm(ctx, site.name) or not _usable(ctx, site):
                continue
            kinds = KINDS if isinstance(ctx.module(site.name), nn.Conv2d) else ("batch",)
            found += [Mutation(op="norm", layer=site.name, args={"kind": k}) for k in kinds]
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        kind = str(mutation.args.get("kind", "batch"))
        channels, dims = _output(ctx, site)
        if _followed_by_norm(ctx, site.name):
            raise MutationError(f"{site.name} is already followed by a normalisation layer")
        new = norm_expr(ctx.src.nn_prefix, kind, channels, dims)
        return add_after(ctx, site, new, f"{site.name}_{_SUFFIX.get(kind, 'norm')}").apply(
            ctx.src.module
        )


def _usable(ctx: ModelContext, site: LayerSite) -> bool:
    """A hidden layer (not the classifier) that the operator can wrap."""
    try:
        graph = ctx.graph()
        var = graph.out_var.get(site.name)
        if (
            var is None
            or graph.group(var).frozen
            and any("model output" in r for r in graph.group(var).frozen)
        ):
            return False
    except MutationError:
        pass
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
        channels = module.num_channels if isinstance(module, nn.GroupNorm) else module.num_features
        edits = Edits()
        edits.call(site.call, replace_call(norm_expr(ctx.src.nn_prefix, kind, channels, 2)))
        return edits.apply(ctx.src.module)


def _kind(module: nn.Module) -> str:
    if isinstance(module, nn.GroupNorm):
        return "group"
    return "instance" if isinstance(module, nn.InstanceNorm2d) else "batch"
