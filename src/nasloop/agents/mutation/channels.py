"""Channel dependencies from a torch.fx trace: which constructor arguments must change together.

Every tensor in the traced graph gets a channel variable (its dim-1 size is ``C(var) *
scale``; the scale is H*W after a flatten). Pass-through ops keep the variable, element-wise
binary ops (residual adds) unify their operands', convs and linears start new ones. A width
change of one layer is then the set of constructor arguments in its variable's group.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from nasloop.agents.mutation.model import single_thread
from nasloop.agents.mutation.spec import MutationError

_PASS_MODULES: tuple[type, ...] = (
    nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Tanh, nn.Sigmoid,
    nn.Hardswish, nn.Hardsigmoid, nn.Mish, nn.Softmax, nn.Dropout, nn.Dropout2d,
    nn.AlphaDropout, nn.Identity, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d, nn.Upsample, nn.ZeroPad2d, nn.ReflectionPad2d, nn.LogSoftmax,
    nn.Hardtanh, nn.SELU, nn.CELU, nn.Softplus, nn.Softsign, nn.Dropout1d,
    nn.FeatureAlphaDropout, nn.MaxPool1d, nn.AvgPool1d, nn.AdaptiveAvgPool1d,
)  # fmt: skip
_NORMS: dict[type, str] = {
    nn.BatchNorm1d: "num_features", nn.BatchNorm2d: "num_features",
    nn.InstanceNorm2d: "num_features", nn.GroupNorm: "num_channels",
}  # fmt: skip
_PASS_FUNCS = {
    "relu", "relu_", "relu6", "gelu", "silu", "leaky_relu", "elu", "tanh", "sigmoid",
    "hardswish", "hardsigmoid", "mish", "softmax", "log_softmax", "dropout", "dropout2d",
    "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "interpolate", "pad", "contiguous", "clone", "detach", "to", "float", "abs", "neg",
    "selu", "celu", "softplus", "hardtanh", "dropout1d", "feature_alpha_dropout",
    "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "square", "exp", "sqrt",
}  # fmt: skip
_BINARY = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.imul,
    torch.add, torch.sub, torch.mul, torch.div,
}  # fmt: skip
_BINARY_METHODS = {"add", "add_", "sub", "mul", "mul_", "div"}


@dataclass(frozen=True)
class Use:
    """One constructor argument that carries a group's width: value = width * scale."""

    layer: str
    param: str
    scale: int = 1


@dataclass
class Group:
    """The arguments that must change together when one channel width changes."""

    width: int
    uses: list[Use] = field(default_factory=list)
    frozen: list[str] = field(default_factory=list)  # why it cannot change, if it cannot
    divisors: list[tuple[str, int]] = field(default_factory=list)  # (layer, n): width % n == 0


@dataclass
class ChannelGraph:
    """Union-find over channel variables plus the arguments attached to them."""

    traced: Any  # an fx.GraphModule, or the shape probe's ProbedModule
    parent: dict[int, int] = field(default_factory=dict)
    width: dict[int, int] = field(default_factory=dict)
    uses: dict[int, list[Use]] = field(default_factory=dict)
    frozen: dict[int, list[str]] = field(default_factory=dict)
    divisors: dict[int, list[tuple[str, int]]] = field(default_factory=dict)
    out_var: dict[str, int] = field(default_factory=dict)  # producer layer -> its output var
    in_var: dict[str, int] = field(default_factory=dict)  # consumer layer -> its input var
    shapes: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)  # how often each module is called

    def new(self, width: int) -> int:
        var = len(self.parent)
        self.parent[var] = var
        self.width[var] = width
        return var

    def find(self, var: int) -> int:
        while self.parent[var] != var:
            self.parent[var] = self.parent[self.parent[var]]
            var = self.parent[var]
        return var

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra

    def group(self, var: int) -> Group:
        root = self.find(var)
        group = Group(width=self.width[root])
        for member in self.parent:
            if self.find(member) == root:
                group.uses += self.uses.get(member, [])
                group.frozen += self.frozen.get(member, [])
                group.divisors += self.divisors.get(member, [])
        return group


def trace(model: nn.Module, in_shape: tuple[int, ...]) -> ChannelGraph:
    """Trace the model with torch.fx, propagate shapes and build its channel graph."""
    traced: Any
    try:
        traced = fx.symbolic_trace(model)
        with torch.no_grad(), single_thread():
            ShapeProp(traced).propagate(torch.randn(*in_shape))
    except Exception as err:  # noqa: BLE001 - fall back to recording one real forward
        first = str(err).splitlines()[0] if str(err) else ""
        from nasloop.agents.mutation.probe import probe_graph

        try:
            traced = probe_graph(model, in_shape)
        except Exception as probe_err:  # noqa: BLE001
            raise MutationError(
                f"channel analysis: torch.fx cannot trace the forward ({type(err).__name__}:"
                f" {first}) and the shape probe fails ({type(probe_err).__name__}: {probe_err})"
            ) from None
    graph = ChannelGraph(traced)
    chan: dict[fx.Node, tuple[int, int]] = {}
    for node in traced.graph.nodes:
        try:
            _visit(graph, node, chan)
        except Exception as err:  # noqa: BLE001 - an unforeseen graph is a reason, not a crash
            raise MutationError(
                f"channel analysis failed at {node.op} {_name(node)}: {type(err).__name__}: {err}"
            ) from None
    return graph


def _shape(node: Any) -> tuple[int, ...] | None:
    meta = getattr(node, "meta", {}).get("tensor_meta") if isinstance(node, fx.Node) else None
    shape = getattr(meta, "shape", None)
    return tuple(shape) if shape is not None else None


def _tensor_inputs(node: fx.Node, chan: dict[fx.Node, tuple[int, int]]) -> list[fx.Node]:
    return [n for n in node.all_input_nodes if n in chan]


def _freeze(graph: ChannelGraph, var: int, reason: str) -> None:
    graph.frozen.setdefault(var, []).append(reason)


def _visit(graph: ChannelGraph, node: fx.Node, chan: dict[fx.Node, tuple[int, int]]) -> None:
    shape = _shape(node)
    inputs = _tensor_inputs(node, chan)
    if node.op == "output":
        for n in inputs:
            _freeze(graph, chan[n][0], "it reaches the model output (the class count)")
        return
    if shape is None or len(shape) < 2:
        for n in inputs:  # a scalar or shape query: it only reads the tensor
            if node.op == "call_method" and node.target in ("size", "dim"):
                continue
            if node.op == "call_function" and node.target is getattr:
                continue
            _freeze(graph, chan[n][0], f"it feeds {node.op} {_name(node)} with a non-tensor result")
        return
    if node.op == "placeholder":
        var = graph.new(shape[1])
        _freeze(graph, var, "it is the model input")
        chan[node] = (var, 1)
        return
    if node.op == "call_module":
        chan[node] = _visit_module(graph, node, inputs, chan, shape)
        return
    chan[node] = _visit_function(graph, node, inputs, chan, shape)


def _name(node: fx.Node) -> str:
    target = node.target
    return target if isinstance(target, str) else getattr(target, "__name__", str(target))


def _visit_module(
    graph: ChannelGraph,
    node: fx.Node,
    inputs: list[fx.Node],
    chan: dict[fx.Node, tuple[int, int]],
    shape: tuple[int, ...],
) -> tuple[int, int]:
    name = str(node.target)
    module = graph.traced.get_submodule(name)
    graph.calls[name] = graph.calls.get(name, 0) + 1
    src = chan[inputs[0]] if inputs else None
    if src is not None:
        in_shape = _shape(inputs[0]) or ()
        graph.shapes[name] = (in_shape, shape)
    if src is None or len(inputs) != 1:
        var = graph.new(shape[1])
        _freeze(graph, var, f"it comes from {name}, which does not take one tensor")
        return var, 1
    var, scale = src
    if isinstance(module, nn.modules.conv._ConvNd):
        groups = module.groups
        if groups == 1:
            graph.uses.setdefault(var, []).append(Use(name, "in_channels", 1))
            graph.in_var[name] = var
            out = graph.new(shape[1])
            graph.uses.setdefault(out, []).append(Use(name, "out_channels"))
            graph.out_var[name] = out
            return out, 1
        if groups == module.in_channels == module.out_channels:  # depthwise: passes through
            for param in ("in_channels", "out_channels", "groups"):
                graph.uses.setdefault(var, []).append(Use(name, param))
            graph.out_var[name] = graph.in_var[name] = var
            return var, 1
        # grouped: both widths may change while the group count divides them
        graph.uses.setdefault(var, []).append(Use(name, "in_channels", 1))
        graph.divisors.setdefault(var, []).append((name, groups))
        graph.in_var[name] = var
        out = graph.new(shape[1])
        graph.uses.setdefault(out, []).append(Use(name, "out_channels"))
        graph.divisors.setdefault(out, []).append((name, groups))
        graph.out_var[name] = out
        return out, 1
    if isinstance(module, nn.Linear):
        if len(shape) != 2:
            _freeze(graph, var, f"{name} is applied to a {len(shape)}-D tensor")
        graph.uses.setdefault(var, []).append(Use(name, "in_features", scale))
        graph.in_var[name] = var
        out = graph.new(shape[1])
        graph.uses.setdefault(out, []).append(Use(name, "out_features"))
        graph.out_var[name] = out
        return out, 1
    norm_param = _NORMS.get(type(module))
    if norm_param is not None:
        if isinstance(module, nn.InstanceNorm2d) and not module.affine:
            return var, scale
        if scale != 1:
            _freeze(graph, var, f"{name} normalises a flattened tensor")
        graph.uses.setdefault(var, []).append(Use(name, norm_param))
        if isinstance(module, nn.GroupNorm):
            graph.divisors.setdefault(var, []).append((name, module.num_groups))
        return var, scale
    if isinstance(module, nn.PReLU) and module.num_parameters > 1:
        graph.uses.setdefault(var, []).append(Use(name, "num_parameters"))
        return var, scale
    if isinstance(module, nn.Flatten):
        return _flatten(graph, node, inputs[0], chan, shape, f"{name} flattens the channels away")
    if isinstance(module, _PASS_MODULES) or isinstance(module, nn.PReLU):
        return var, scale
    _freeze(graph, var, f"it enters {name} ({type(module).__name__}), which nasloop cannot resize")
    out = graph.new(shape[1])
    _freeze(graph, out, f"it comes from {name} ({type(module).__name__})")
    return out, 1


def _flatten(
    graph: ChannelGraph,
    node: fx.Node,
    src: fx.Node,
    chan: dict[fx.Node, tuple[int, int]],
    shape: tuple[int, ...],
    reason: str,
    fixed: bool = False,
) -> tuple[int, int]:
    var, scale = chan[src]
    in_shape = _shape(src) or ()
    if not fixed and len(shape) == 2 and len(in_shape) >= 2 and shape[0] == in_shape[0]:
        spatial = 1
        for size in in_shape[2:]:
            spatial *= size
        if shape[1] == in_shape[1] * spatial:
            return var, scale * spatial
    _freeze(graph, var, reason)
    out = graph.new(shape[1])
    _freeze(graph, out, reason)
    return out, 1


def _visit_function(
    graph: ChannelGraph,
    node: fx.Node,
    inputs: list[fx.Node],
    chan: dict[fx.Node, tuple[int, int]],
    shape: tuple[int, ...],
) -> tuple[int, int]:
    target = node.target
    name = _name(node)
    if target in _BINARY or (node.op == "call_method" and name in _BINARY_METHODS):
        return _binary(graph, node, inputs, chan, shape)
    if name in ("flatten", "view", "reshape") and inputs:
        literal = [  # a leading int equal to the batch is x.size(0) read by the shape probe
            a for i, a in enumerate(node.args[1:])
            if isinstance(a, int) and a not in (-1, 0, 1) and not (i == 0 and a == shape[0])
        ]  # fmt: skip
        if name != "flatten" and literal:
            reason = f"the forward reshapes to the fixed size {literal[-1]} ({name})"
            return _flatten(graph, node, inputs[0], chan, shape, reason, fixed=True)
        if name == "flatten" and _shape(inputs[0]) == shape:
            return chan[inputs[0]]
        return _flatten(graph, node, inputs[0], chan, shape, f"{name} changes the layout")
    if name in ("mean", "sum", "amax") and inputs:
        in_shape = _shape(inputs[0]) or ()
        if len(in_shape) >= 2 and len(shape) >= 2 and in_shape[1] == shape[1]:
            return chan[inputs[0]]
    if name == "cat" and inputs:
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        if dim not in (1, -3):
            var = chan[inputs[0]][0]
            for other in inputs[1:]:
                graph.union(var, chan[other][0])
            return chan[inputs[0]]
    if name in _PASS_FUNCS and len(inputs) == 1:
        return chan[inputs[0]]
    reason = f"it passes through {name}, which nasloop does not resize"
    for n in inputs:
        _freeze(graph, chan[n][0], reason)
    out = graph.new(shape[1])
    _freeze(graph, out, reason)
    return out, 1


def _binary(
    graph: ChannelGraph,
    node: fx.Node,
    inputs: list[fx.Node],
    chan: dict[fx.Node, tuple[int, int]],
    shape: tuple[int, ...],
) -> tuple[int, int]:
    full = [n for n in inputs if (_shape(n) or (0, 0))[1:2] == shape[1:2]]
    if not full:
        var = graph.new(shape[1])
        _freeze(graph, var, f"it comes from a broadcasting {_name(node)}")
        return var, 1
    first_var, first_scale = chan[full[0]]
    for other in full[1:]:
        var, scale = chan[other]
        if scale != first_scale:
            _freeze(graph, var, f"{_name(node)} joins tensors of different layouts")
            _freeze(graph, first_var, f"{_name(node)} joins tensors of different layouts")
        graph.union(first_var, var)
    return first_var, first_scale
