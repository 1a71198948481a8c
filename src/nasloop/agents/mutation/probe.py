"""A shape probe for forwards torch.fx cannot trace (data-dependent branches, loops over
tensors): one real forward pass recorded into an fx.Graph.

Leaf modules (torch.nn's own, as fx treats them) are seen through forward hooks; the
tensor operations between them through a TorchFunctionMode. Only the branch the probe
input takes is recorded, so the graph holds what that input's forward did. Operations
that end in a scalar (a branch condition, a statistic) are not recorded: they read the
activations but do not carry channels.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import torch
from torch import fx, nn
from torch.overrides import TorchFunctionMode

from nasloop.agents.mutation.model import single_thread

_METHOD_NAMES = {
    "__add__": "add", "__radd__": "add", "__iadd__": "add_", "__sub__": "sub",
    "__rsub__": "sub", "__isub__": "sub", "__mul__": "mul", "__rmul__": "mul",
    "__imul__": "mul_", "__truediv__": "div", "__rtruediv__": "div", "__itruediv__": "div",
    "__getitem__": "getitem", "__matmul__": "matmul",
}  # fmt: skip


class ProbedModule:
    """What the channel visitor needs of a traced module: its graph and its submodules."""

    def __init__(self, model: nn.Module, graph: fx.Graph) -> None:
        self.model = model
        self.graph = graph

    def get_submodule(self, name: str) -> nn.Module:
        return self.model.get_submodule(name)


def _is_leaf(module: nn.Module) -> bool:
    kind = type(module).__module__
    return kind.startswith(("torch.nn", "torch.ao.nn")) and not isinstance(
        module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    )


class _Recorder(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.graph = fx.Graph()
        self.nodes: dict[int, fx.Node] = {}
        self.keep: list[torch.Tensor] = []  # ids stay unique while their tensors live
        self.depth = 0
        self.count = 0

    def node_for(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return self.nodes.get(id(value))
        if isinstance(value, (list, tuple)):
            return type(value)(self.node_for(v) for v in value)
        if isinstance(value, dict):
            return {k: self.node_for(v) for k, v in value.items()}
        return value

    def bind(self, node: fx.Node, out: torch.Tensor) -> None:
        node.meta["tensor_meta"] = SimpleNamespace(shape=tuple(out.shape))
        self.nodes[id(out)] = node
        self.keep.append(out)

    def record(self, op: str, target: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if not isinstance(out, torch.Tensor) or out.dim() < 2:
            return
        inputs = self.node_for(tuple(args))
        flat: list[fx.Node] = []
        fx.node.map_arg(inputs, flat.append)
        if not flat:
            return  # made from nothing recorded (a constant, a parameter)
        self.count += 1
        node = self.graph.create_node(
            op, target, inputs, self.node_for(kwargs), name=f"probe_{self.count}"
        )
        self.bind(node, out)

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0:
            name = getattr(func, "__name__", "")
            if getattr(torch.Tensor, name, None) is func or name in _METHOD_NAMES:
                self.record("call_method", _METHOD_NAMES.get(name, name), args, kwargs, out)
            else:
                self.record("call_function", func, args, kwargs, out)
        return out


def probe_graph(model: nn.Module, in_shape: tuple[int, ...]) -> ProbedModule:
    """Run one forward pass on random input and record it as an fx.Graph with shapes."""
    rec = _Recorder()
    paths = {id(m): name for name, m in model.named_modules()}
    handles = []

    def pre(module: nn.Module, args: tuple) -> None:
        rec.depth += 1

    def post(module: nn.Module, args: tuple, out: Any) -> None:
        rec.depth -= 1
        if rec.depth == 0:
            first = args[0] if args else None
            rec.record("call_module", paths[id(module)], (first,), {}, out)

    for module in model.modules():
        if module is not model and _is_leaf(module):
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(post))
    x = torch.randn(*in_shape)
    placeholder = rec.graph.placeholder("x")
    rec.bind(placeholder, x)
    model.eval()
    try:
        with torch.no_grad(), single_thread(), rec:
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
    rec.graph.output(rec.node_for(out))
    return ProbedModule(model, rec.graph)
