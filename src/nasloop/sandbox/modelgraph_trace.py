"""The recorder behind `modelgraph.export_graph`: a model's forward, operator by operator,
as torch's dispatcher sees it (after autograd and composite operators are resolved).

A `TorchDispatchMode` runs every ATen call for real and writes it down: its arguments as
references to the values already recorded (the input, earlier results) or as literals.
A tensor met for the first time (a weight, a buffer, a constant made outside the recorded
calls) becomes a stored value, so nothing the forward computes with is left out. A call
that returns no tensor (`x.item()`, a comparison Python branches on) is not recorded: its
value is already in the literals of the calls after it.
"""

from __future__ import annotations

import math
from typing import Any

from nasloop.sandbox import tensorfile
from nasloop.sandbox.modelgraph import FORMAT, GETITEM, SIMPLE, NotExportable


def trace(model: Any, example: Any) -> dict[str, Any]:
    """The record of `model(example)`; see nasloop.sandbox.modelgraph for its format."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.weak import WeakTensorKeyDictionary

    index_of: Any = WeakTensorKeyDictionary()
    values: list[dict[str, Any]] = [{"input": True}]
    index_of[example] = 0
    seen: set[int] = set()  # ids of the parameters met (to list the unused ones)

    def stored(t: torch.Tensor) -> int:
        seen.add(id(t))
        array = t.detach().cpu()
        if array.dtype == torch.bfloat16:
            raise NotExportable("a bfloat16 tensor (stored tensors are numpy arrays)")
        values.append({"tensor": tensorfile.store(array.numpy())})
        index_of[t] = len(values) - 1
        return len(values) - 1

    def arg(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            i = index_of.get(v)
            return {"ref": stored(v) if i is None else i}
        if isinstance(v, (list, tuple)):
            return [arg(a) for a in v]
        if isinstance(v, float) and not math.isfinite(v):
            return {"float": repr(v)}
        if isinstance(v, SIMPLE):
            return v
        if isinstance(v, torch.dtype):
            return {"dtype": str(v).removeprefix("torch.")}
        if isinstance(v, torch.device):
            return {"device": v.type}
        if isinstance(v, torch.layout):
            return {"layout": str(v).removeprefix("torch.")}
        if isinstance(v, torch.memory_format):
            return {"memory_format": str(v).removeprefix("torch.")}
        raise NotExportable(f"an operator argument of type {type(v).__name__}")

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            kwargs = kwargs or {}
            if func.namespace != "aten":
                raise NotExportable(f"the forward calls {func.namespace}::{func._opname}, "
                                    "not an ATen operator")
            call = {"op": f"aten.{func._opname}.{func._overloadname}",
                    "args": arg(list(args)), "kwargs": {k: arg(v) for k, v in kwargs.items()}}
            out = func(*args, **kwargs)
            if isinstance(out, torch.Tensor):
                values.append(call)
                index_of[out] = len(values) - 1
            elif isinstance(out, (list, tuple)) and any(isinstance(o, torch.Tensor)
                                                        for o in out):
                values.append(call)
                whole = len(values) - 1
                for pos, part in enumerate(out):
                    if isinstance(part, torch.Tensor):
                        values.append({"op": GETITEM, "args": [{"ref": whole}, pos]})
                        index_of[part] = len(values) - 1
            return out

    with Recorder():
        out = model(example)
    if not isinstance(out, torch.Tensor):
        raise NotExportable(f"the forward returned {type(out).__name__}, not a tensor")
    output = index_of.get(out)
    if output is None:  # a tensor made outside the recorded calls: as it is
        output = stored(out)
    unused = [list(p.shape) for p in model.parameters() if id(p) not in seen]
    return {"format": FORMAT, "batch": int(example.shape[0]), "shape": list(example.shape),
            "values": values, "output": {"ref": output}, "unused_parameters": unused}
