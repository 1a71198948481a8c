"""Depth: insert an activation + same-width layer after a layer, or remove a shape-neutral one."""

from __future__ import annotations

from torch import nn

from nasloop.agents.mutation.context import ModelContext, io_shapes
from nasloop.agents.mutation.ops_norm import add_after, produces_logits, width_source
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, remove_element, unwrap_call
from nasloop.agents.mutation.source import LayerSite
from nasloop.agents.mutation.spec import Mutation, MutationError

_ACTS = (nn.ReLU, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.Tanh, nn.ELU, nn.ReLU6)
_DROPPABLE = (
    nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d,
    nn.Sequential,
)  # fmt: skip


def _activation(ctx: ModelContext) -> str:
    """The model's own activation module (first one found), else ReLU."""
    for module in ctx.model.modules():
        if isinstance(module, _ACTS):
            return type(module).__name__
    return "ReLU"


def _block(ctx: ModelContext, site: LayerSite) -> str:
    module = ctx.module(site.name)
    p = ctx.src.nn_prefix
    act = f"{p}{_activation(ctx)}()"
    if isinstance(module, nn.Conv2d) and module.groups == 1:
        c, _ = width_source(ctx, site, "out_channels")
        return f"{p}Sequential({act}, {p}Conv2d({c}, {c}, kernel_size=3, padding=1))"
    if isinstance(module, nn.Linear):
        f, _ = width_source(ctx, site, "out_features")
        return f"{p}Sequential({act}, {p}Linear({f}, {f}))"
    raise MutationError(f"{site.name} is a {site.type_name}; add_block follows a Conv2d or Linear")


@register("add_block", "insert activation + same-width conv (or linear) after a layer")
class AddBlock:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.Conv2d, nn.Linear):
            if produces_logits(ctx, site):
                continue
            if isinstance(ctx.module(site.name), nn.Conv2d) and ctx.module(site.name).groups != 1:
                continue
            if site.direct:
                try:
                    ctx.single_use(site)
                except MutationError:
                    continue
            found.append(Mutation(op="add_block", layer=site.name))
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        if produces_logits(ctx, site):
            raise MutationError(f"{site.name} produces the logits; nothing goes after it")
        block = _block(ctx, site)
        if not site.direct:  # splice the two layers into the enclosing Sequential
            block = block[len(ctx.src.nn_prefix + "Sequential(") : -1]
            act, layer = block.split(", ", 1)
            assert site.container is not None and site.index is not None
            from nasloop.agents.mutation.rewrite import insert_elements

            edits = Edits()
            edits.call(site.container, insert_elements(site.index + 1, [act, layer]))
            return edits.apply(ctx.src.module)
        return add_after(ctx, site, block, f"{site.local}_block").apply(ctx.src.module)


def _droppable(ctx: ModelContext, site: LayerSite, shapes: dict) -> str | None:
    """None if ``site`` can go, else why not."""
    try:
        module = ctx.module(site.name)
    except (AttributeError, MutationError) as err:
        return str(err)
    if not isinstance(module, _DROPPABLE):
        return (
            f"{site.name} is a {site.type_name}; drop_block removes convs, linears, norms, blocks"
        )
    paths = ctx.instances(site)
    if not paths or any(path not in shapes for path in paths):
        return f"{site.name} is never called in the forward pass"
    for path in paths:
        in_shape, out_shape, calls = shapes[path]
        if calls != 1:
            return f"{path} is called {calls} times"
        if in_shape != out_shape:
            change = f"{list(in_shape[1:])} to {list(out_shape[1:])}"
            return f"{path} maps {change}; removing it breaks shapes"
    if site.direct:
        try:
            ctx.single_use(site)
        except MutationError as err:
            return err.reason
        assert site.stmt is not None
        if len(site.stmt.body) != 1:
            return f"{site.name} shares its line with another statement"
    elif site.container is not None and len(site.container.args) < 2:
        return f"{site.name} is the only layer of its Sequential"
    return None


def _redundant_activation(ctx: ModelContext, site: LayerSite) -> int | None:
    """The index of the activation that removing Sequential element ``site`` would leave
    right after another activation (``Conv, ReLU, Conv, ReLU`` minus the second Conv), else
    None. Two activations in a row add nothing, and two in-place ones break backward (the
    second overwrites the output the first saved for its gradient), so both go together."""
    if site.direct or site.index is None:
        return None
    paths = ctx.instances(site)
    if not paths or "." not in paths[0]:
        return None
    container = ctx.model.get_submodule(paths[0].rsplit(".", 1)[0])
    i = site.index
    if not isinstance(container, nn.Sequential) or not 0 < i < len(container) - 1:
        return None
    if isinstance(container[i - 1], _ACTS) and isinstance(container[i + 1], _ACTS):
        return i + 1
    return None


@register("drop_block", "remove a layer whose output has its input's shape (and an "
          "activation it would leave doubled)")
class DropBlock:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        shapes = io_shapes(ctx)
        return [
            Mutation(op="drop_block", layer=site.name)
            for site in ctx.sites.values()
            if site.type_name != "Sequential" or site.direct
            if _droppable(ctx, site, shapes) is None
        ]

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        reason = _droppable(ctx, site, io_shapes(ctx))
        if reason is not None:
            raise MutationError(reason)
        edits = Edits()
        if site.direct:
            assert site.stmt is not None
            edits.remove.add(site.stmt)
            edits.call(ctx.single_use(site), unwrap_call())
        else:
            assert site.container is not None and site.index is not None
            doubled = _redundant_activation(ctx, site)
            if doubled is not None:
                edits.call(site.container, remove_element(doubled))
            edits.call(site.container, remove_element(site.index))
        return edits.apply(ctx.src.module)
