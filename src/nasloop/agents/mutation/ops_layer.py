"""Layer-geometry operators: kernel size (padding keeps the output size), stride, pooling kind."""

from __future__ import annotations

import libcst as cst
from torch import nn

from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.model import instantiate, load_module, single_thread
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, expr, set_int
from nasloop.agents.mutation.source import LayerSite, read_source, set_arg
from nasloop.agents.mutation.spec import Mutation, MutationError

KERNEL_SIZES = (1, 3, 5, 7)
_POOL_SWAP = {
    "MaxPool2d": "AvgPool2d",
    "AvgPool2d": "MaxPool2d",
    "AdaptiveAvgPool2d": "AdaptiveMaxPool2d",
    "AdaptiveMaxPool2d": "AdaptiveAvgPool2d",
}
_POOL_SHARED = {"kernel_size", "stride", "padding", "ceil_mode", "output_size"}


def _conv(ctx: ModelContext, layer: str | None) -> nn.Conv2d:
    site = ctx.site(layer)
    module = ctx.module(site.name)
    if not isinstance(module, nn.Conv2d):
        raise MutationError(f"{site.name} is a {site.type_name}, not a Conv2d")
    return module


def _new_padding(conv: nn.Conv2d, size: int) -> tuple[int, ...] | str:
    if isinstance(conv.padding, str):
        if conv.padding == "same":
            return "same"
        pads: tuple[int, ...] = (0, 0)
    else:
        pads = tuple(conv.padding)
    new = []
    for old_k, pad, dil in zip(conv.kernel_size, pads, conv.dilation, strict=True):
        delta = (size - old_k) * dil
        if delta % 2 or pad + delta // 2 < 0:
            raise MutationError(
                f"kernel {size} on {_name(conv)} cannot keep the output size"
                f" (padding would be {pad + delta / 2:g})"
            )
        new.append(pad + delta // 2)
    return tuple(new)


def _name(conv: nn.Conv2d) -> str:
    return f"a {conv.kernel_size[0]}x{conv.kernel_size[1]} conv with padding {conv.padding}"


@register("kernel", "change a Conv2d's kernel size; the padding keeps the output size")
class Kernel:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.Conv2d):
            conv = ctx.module(site.name)
            for size in KERNEL_SIZES:
                if (size, size) == tuple(conv.kernel_size):
                    continue
                try:
                    _new_padding(conv, size)
                except MutationError:
                    continue
                found.append(Mutation(op="kernel", layer=site.name, args={"size": size}))
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        conv = _conv(ctx, mutation.layer)
        size = int(mutation.args.get("size", 3))
        if size < 1:
            raise MutationError(f"kernel size {size} must be positive")
        padding = _new_padding(conv, size)
        site = ctx.site(mutation.layer)
        pad = repr(padding) if isinstance(padding, str) else str(padding[0])
        if not isinstance(padding, str) and padding[0] != padding[1]:
            pad = f"({padding[0]}, {padding[1]})"

        def edit(call: cst.Call) -> cst.Call:
            call = set_arg(call, "Conv2d", "kernel_size", cst.Integer(str(size)))
            return set_arg(call, "Conv2d", "padding", expr(pad))

        edits = Edits()
        edits.call(site.call, edit)
        return edits.apply(ctx.src.module)


def repair_linear_inputs(code: str, in_shape: tuple[int, ...], num_classes: int) -> str:
    """Fix the ``in_features`` of linears fed a new flattened size (after a spatial change)."""
    import torch

    module = load_module(code)
    try:
        model = instantiate(module, in_shape, num_classes)
    except Exception as err:  # noqa: BLE001
        raise MutationError(f"Net() fails: {type(err).__name__}: {err}") from None
    needed: dict[str, int] = {}

    def make_hook(name: str):  # type: ignore[no-untyped-def]
        def hook(layer: nn.Linear, inputs: tuple) -> None:
            size = inputs[0].shape[-1]
            if size != layer.in_features:
                needed[name] = size
                layer.weight = nn.Parameter(torch.zeros(layer.out_features, size))
                layer.in_features = size

        return hook

    for name, layer in model.named_modules():
        if isinstance(layer, nn.Linear):
            layer.register_forward_pre_hook(make_hook(name))
    model.eval()
    with torch.no_grad(), single_thread():
        try:
            model(torch.randn(*in_shape))
        except Exception as err:  # noqa: BLE001
            raise MutationError(f"forward fails: {type(err).__name__}: {err}") from None
    if not needed:
        return code
    src = read_source(code)
    edits = Edits()
    for name, size in needed.items():
        site = src.sites.get(name)
        if site is None:
            raise MutationError(f"{name} needs in_features={size} but has no constructor site")
        old = model.get_submodule(name).in_features
        edits.call(site.call, set_int(site, "in_features", old, size))
    return edits.apply(src.module)


def _geometry_runs(ctx: ModelContext, site: LayerSite, attr: str, value: int) -> bool:
    """Whether the live model still runs with ``<conv>.<attr>`` (stride or padding) changed
    in every object the site builds; linears after a flatten get an input of their own
    size, as the rewrite gives them."""
    import torch

    def fit(layer: nn.Linear, inputs: tuple) -> tuple | None:
        x = inputs[0]
        if x.shape[-1] == layer.in_features:
            return None
        return (x.new_zeros(*x.shape[:-1], layer.in_features),)

    convs = [ctx.model.get_submodule(path) for path in ctx.instances(site)]
    old = [getattr(conv, attr) for conv in convs]
    hooks = [
        m.register_forward_pre_hook(fit) for m in ctx.model.modules() if isinstance(m, nn.Linear)
    ]
    for conv in convs:
        setattr(conv, attr, (value, value))
    try:
        with torch.no_grad(), single_thread():
            out = ctx.model(torch.randn(*ctx.in_shape))
        return tuple(out.shape) == (ctx.in_shape[0], ctx.num_classes)
    except Exception:  # noqa: BLE001 - any failure means: do not propose it
        return False
    finally:
        for conv, value_before in zip(convs, old, strict=True):
            setattr(conv, attr, value_before)
        for hook in hooks:
            hook.remove()


@register("stride", "change a Conv2d's stride; linears after a flatten follow the new size")
class Stride:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.Conv2d):
            conv = ctx.module(site.name)
            if conv.stride[0] != conv.stride[1] or conv.padding == "same":
                continue
            new = 2 if conv.stride[0] == 1 else 1
            if _geometry_runs(ctx, site, "stride", new):  # it can break a residual add
                found.append(Mutation(op="stride", layer=site.name, args={"stride": new}))
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        conv = _conv(ctx, mutation.layer)
        stride = int(mutation.args.get("stride", 2))
        if stride < 1 or (stride > 1 and conv.padding == "same"):
            raise MutationError(f"stride {stride} is not possible on {mutation.layer}")
        return _set_geometry(ctx, mutation.layer, "stride", stride)


def _set_geometry(ctx: ModelContext, layer: str | None, arg: str, value: int) -> str:
    """Set one integer argument of a Conv2d; linears after a flatten follow the new size."""
    site = ctx.site(layer)
    edits = Edits()
    edits.call(site.call, lambda c: set_arg(c, "Conv2d", arg, cst.Integer(str(value))))
    try:
        return repair_linear_inputs(edits.apply(ctx.src.module), ctx.in_shape, ctx.num_classes)
    except MutationError as err:
        raise MutationError(f"{arg} {value} on {site.name}: {err.reason}") from None


@register("padding", "change a Conv2d's padding; linears after a flatten follow the new size")
class Padding:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites_of(nn.Conv2d):
            conv = ctx.module(site.name)
            if isinstance(conv.padding, str) or len(set(conv.padding)) != 1:
                continue
            if conv.kernel_size[0] != conv.kernel_size[1] or conv.padding_mode != "zeros":
                continue
            same = (conv.kernel_size[0] - 1) * conv.dilation[0] // 2
            for new in sorted({0, same} - {conv.padding[0]}):
                if _geometry_runs(ctx, site, "padding", new):
                    found.append(Mutation(op="padding", layer=site.name, args={"padding": new}))
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        conv = _conv(ctx, mutation.layer)
        padding = int(mutation.args.get("padding", 0))
        if padding < 0 or isinstance(conv.padding, str):
            raise MutationError(f"padding {padding} is not possible on {mutation.layer}")
        return _set_geometry(ctx, mutation.layer, "padding", padding)


@register("pool", "swap max and average pooling")
class Pool:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        found = []
        for site in ctx.sites.values():
            if site.type_name in _POOL_SWAP and _swappable(site.call):
                kind = "avg" if "Max" in site.type_name else "max"
                found.append(Mutation(op="pool", layer=site.name, args={"kind": kind}))
        return found

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        site = ctx.site(mutation.layer)
        if site.type_name not in _POOL_SWAP:
            raise MutationError(f"{site.name} is a {site.type_name}, not a max/avg pool")
        new_type = _POOL_SWAP[site.type_name]
        kind = str(mutation.args.get("kind", "avg" if "Max" in site.type_name else "max"))
        if kind.lower() not in new_type.lower():
            raise MutationError(f"{site.name} is already a {site.type_name}")
        if not _swappable(site.call):
            raise MutationError(f"{site.name} uses arguments that {new_type} does not take")
        edits = Edits()
        edits.call(site.call, lambda c: c.with_changes(func=expr(ctx.src.nn_prefix + new_type)))
        return edits.apply(ctx.src.module)


def _swappable(call: cst.Call) -> bool:
    for position, arg in enumerate(call.args):
        if arg.star or (arg.keyword is None and position > 2):
            return False
        if arg.keyword is not None and arg.keyword.value not in _POOL_SHARED:
            return False
    return True
