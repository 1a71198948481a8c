"""widen / narrow: change a conv's or linear's output width together with all its consumers."""

from __future__ import annotations

from torch import nn

from nasloop.agents.mutation.channels import Group
from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.literal_widths import LiteralPlan, plan_width
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, set_int
from nasloop.agents.mutation.spec import Mutation, MutationError

WIDEN_FACTORS: tuple[float, ...] = (2.0,)
NARROW_FACTORS: tuple[float, ...] = (0.5,)
MIN_WIDTH = 2
MAX_WIDTH = 1024
_PRODUCERS = (nn.modules.conv._ConvNd, nn.Linear)


def group_problem(ctx: ModelContext, group: Group) -> str | None:
    """Why a channel group's width cannot change, or None if it can."""
    if group.frozen:
        return group.frozen[0]
    for use in group.uses:
        try:
            site = ctx.site(use.layer)
        except MutationError as err:
            return err.reason
        if site.owner != "Net":  # a helper class's argument: every object must follow
            paths = set(ctx.instances(site))
            covered = {u.layer for u in group.uses if u.param == use.param and u.layer in paths}
            if covered != paths:
                return f"{site.name} is built {len(paths)} times with different widths"
    return None


def width_edits(ctx: ModelContext, layer: str, new_width: int) -> Edits:
    """Edits setting ``layer``'s output width to ``new_width`` and every argument tied to it."""
    site = ctx.site(layer)
    if site.owner != "Net":
        raise MutationError(f"{site.name} is shared by every {site.owner}; widen Net's own layers")
    if not isinstance(ctx.module(layer), _PRODUCERS):
        raise MutationError(f"{layer} is a {site.type_name}, not a convolution or linear layer")
    graph = ctx.graph()
    if layer not in graph.out_var:
        raise MutationError(f"{layer} is never called in the forward pass")
    group = graph.group(graph.out_var[layer])
    if group.frozen:
        raise MutationError(f"the output width of {layer} cannot change: {group.frozen[0]}")
    if not MIN_WIDTH <= new_width <= MAX_WIDTH:
        raise MutationError(f"width {new_width} is outside [{MIN_WIDTH}, {MAX_WIDTH}]")
    for norm, groups in group.divisors:
        if new_width % groups:
            raise MutationError(f"{norm} has {groups} groups, which do not divide {new_width}")
    problem = group_problem(ctx, group)
    if problem:
        raise MutationError(f"the output width of {layer} cannot change: {problem}")
    edits = Edits()
    done: set[tuple[str, str]] = set()
    for use in dict.fromkeys(group.uses):  # dedupe, keep order
        use_site = ctx.site(use.layer)
        if (use_site.name, use.param) in done:  # objects of one helper class share a call
            continue
        done.add((use_site.name, use.param))
        current = getattr(ctx.module(use.layer), use.param)
        if current != group.width * use.scale:
            raise MutationError(
                f"{use.layer}.{use.param} is {current}, expected {group.width * use.scale}"
            )
        hint = group.width if use.scale != 1 else None
        edits.call(
            use_site.call,
            set_int(use_site, use.param, current, new_width * use.scale, hint, edits.flattened),
        )
    return edits


def producers(ctx: ModelContext) -> list[str]:
    """Module paths of the model's convolutions and linears, in registration order."""
    return [name for name, m in ctx.model.named_modules() if isinstance(m, _PRODUCERS)]


def literal_plan(ctx: ModelContext, layer: str, new_width: int) -> LiteralPlan:
    """The literal edits setting ``layer``'s output width to ``new_width`` (MutationError)."""
    try:
        module = ctx.model.get_submodule(layer)
    except AttributeError:
        raise MutationError(f"the model has no layer {layer!r}") from None
    if not isinstance(module, _PRODUCERS):
        raise MutationError(f"{layer} is a {type(module).__name__}, not a convolution or linear")
    graph = ctx.graph()
    if layer not in graph.out_var:
        raise MutationError(f"{layer} is never called in the forward pass")
    if not MIN_WIDTH <= new_width <= MAX_WIDTH:
        raise MutationError(f"width {new_width} is outside [{MIN_WIDTH}, {MAX_WIDTH}]")
    try:
        return plan_width(ctx, graph.out_var[layer], new_width)
    except MutationError as err:
        raise MutationError(f"the output width of {layer} cannot change: {err.reason}") from None


def site_based(ctx: ModelContext, layer: str) -> bool:
    """Whether ``layer``'s width is changed by editing constructor calls (Net's own layers
    whose channel group has no argument in a helper class)."""
    site = ctx.sites.get(layer)
    if site is None or site.owner != "Net":
        return False
    try:
        graph = ctx.graph()
    except MutationError:
        return False
    var = graph.out_var.get(layer)
    return var is not None and group_problem(ctx, graph.group(var)) is None


def width_change(ctx: ModelContext, layer: str, new_width: int) -> str:
    """The source with ``layer``'s output width set to ``new_width``; MutationError if not."""
    if layer in ctx.sites:
        try:
            edits = width_edits(ctx, layer, new_width)
            code = edits.apply(ctx.src.module)
        except MutationError:
            if site_based(ctx, layer) or ctx.sites[layer].owner != "Net":
                raise
        else:
            if not edits.flattened:
                return code
            try:  # editing the literals keeps the parent's expressions (c2 * (h // 4))
                plan = literal_plan(ctx, layer, new_width)
            except MutationError:
                return code
            return ctx.provenance().edit(ctx.code, plan.sigma)
    plan = literal_plan(ctx, layer, new_width)
    return ctx.provenance().edit(ctx.code, plan.sigma)


def _proposals(ctx: ModelContext, op: str, factors: tuple[float, ...]) -> list[Mutation]:
    try:
        graph = ctx.graph()
    except MutationError:
        return []
    seen: set[int] = set()
    found = []
    for site in ctx.sites_of(*_PRODUCERS):
        if site.owner != "Net":
            continue
        var = graph.out_var.get(site.name)
        if var is None or graph.find(var) in seen:
            continue
        group = graph.group(var)
        if group_problem(ctx, group):
            continue
        seen.add(graph.find(var))
        for factor in factors:
            new = round(group.width * factor)
            fits = all(new % n == 0 for _, n in group.divisors)
            if new != group.width and MIN_WIDTH <= new <= MAX_WIDTH and fits:
                # Proposed as the absolute width: what the change means can be read (and
                # copied by a language model) without multiplying.
                found.append(Mutation(op=op, layer=site.name, args={"channels": new}))
    for layer in producers(ctx):  # the rest: widths set by literals elsewhere in the file
        var = graph.out_var.get(layer)
        if var is None or graph.find(var) in seen:
            continue
        seen.add(graph.find(var))
        width = graph.group(var).width
        for factor in factors:
            new = round(width * factor)
            if new == width or not MIN_WIDTH <= new <= MAX_WIDTH:
                continue
            try:
                plan = literal_plan(ctx, layer, new)
            except MutationError:
                continue
            seen.update(plan.widths)
            found.append(Mutation(op=op, layer=layer, args={"channels": new}))
    return found


def _apply(ctx: ModelContext, mutation: Mutation, widen: bool) -> str:
    layer = mutation.layer
    if layer is None:
        raise MutationError(f"{mutation.op} needs a layer")
    if "channels" in mutation.args:
        new = int(mutation.args["channels"])
    else:
        factor = float(mutation.args.get("factor", 2.0 if widen else 0.5))
        if (factor > 1) != widen or factor <= 0:
            raise MutationError(f"{mutation.op} needs a factor {'> 1' if widen else 'in (0, 1)'}")
        try:
            module = ctx.module(layer) if layer in ctx.sites else ctx.model.get_submodule(layer)
        except AttributeError:
            raise MutationError(f"the model has no layer {layer!r}") from None
        old = getattr(module, "out_channels", None) or getattr(module, "out_features", 0)
        new = max(1, round(old * factor))
    return width_change(ctx, layer, new)


@register("widen", "raise a conv/linear output width (channels, or factor > 1) and its consumers'")
class Widen:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        return _proposals(ctx, "widen", WIDEN_FACTORS)

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        return _apply(ctx, mutation, widen=True)


@register("narrow", "lower a conv/linear output width (channels, or factor < 1) and its consumers'")
class Narrow:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        return _proposals(ctx, "narrow", NARROW_FACTORS)

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        return _apply(ctx, mutation, widen=False)
