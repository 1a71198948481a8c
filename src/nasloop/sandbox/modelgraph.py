"""A trained model as data: recorded in the candidate's process, run without its code.

The candidate's process records its trained model's forward as a list of ATen operator
calls over stored tensors and returns it as JSON (`export_graph`), the tensors' bytes
beside it (nasloop.sandbox.tensorfile). An auditor process that never holds candidate
code rebuilds and runs that record (`GraphProgram`): what it predicts is what gets scored,
and the parameter count and FLOPs are counted there, from the record and its tensors, not
taken from the candidate's word.

The format (FORMAT): `{"format", "batch", "shape", "values", "output", "unused_parameters"}`.
`values` is a list; each entry is the model's input (`{"input": true}`, exactly one), a
stored tensor (a weight, a buffer, a constant: `{"tensor": {"at", "dtype", "shape"}}` in
the file of tensors, or `{"tensor": base64 .npy}` inline where there is none) or an operator
call (`{"op": "aten.NAME.OVERLOAD" | "getitem", "args": [...], "kwargs": {...}}`) whose
arguments are literals, lists, `{"ref": i}` (an earlier value), `{"float": "inf"}`,
`{"dtype" | "layout" | "memory_format": name}` or `{"device": "cpu" | "cuda"}`.

Why our own format and recorder: `torch.export` and `make_fx` refuse the data-dependent
Python branches real model files have (`if x.abs().sum() == 0:`), and `torch.export.load`
unpickles (`weights_only=False` as a fallback) and resolves any `torch.<attribute path>`
named in the file, so a hostile file would run code in the loader. Here the record is taken
at torch's dispatcher (nasloop.sandbox.modelgraph_trace); every operator is looked up in
`torch.ops.aten` by a checked name, tensors are numeric arrays read without pickle, and
nothing is generated as Python source.
"""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nasloop.sandbox import tensorfile
from nasloop.sandbox.outputs import BadOutputs

if TYPE_CHECKING:
    from collections.abc import Iterator

    import torch

FORMAT = 1
MAX_VALUES = 50_000
# batch-norm style operators and the argument positions of their running statistics:
# buffers, not parameters
RUNNING_STATS = {"batch_norm": (3, 4), "_native_batch_norm_legit_no_training": (3, 4),
                 "_native_batch_norm_legit": (3, 4), "native_batch_norm": (3, 4),
                 "instance_norm": (3, 4), "cudnn_batch_norm": (3, 4),
                 "miopen_batch_norm": (3, 4), "_batch_norm_impl_index": (3, 4),
                 "_batch_norm_no_update": (3, 4), "_batch_norm_with_update": (3, 4)}
# operators that reach outside the tensors they are given
_REFUSED = {"from_file", "set_", "record_stream", "_print", "save", "load"}
GETITEM = "getitem"
_ATEN_NAME = re.compile(r"^aten\.([a-z_][a-z0-9_]*)\.([A-Za-z_][A-Za-z0-9_]*)$")
SIMPLE = (bool, int, float, str, type(None))


class BadGraph(ValueError):
    """A returned graph that cannot be rebuilt or run; the message says why in one line."""


class NotExportable(Exception):
    """The candidate's model cannot be recorded as a graph (its own code's limits)."""


def export_graph(model: Any, example: torch.Tensor) -> dict[str, Any]:
    """`model`'s forward on `example` (in eval mode, without gradients), recorded operator
    by operator as a JSON-able dict. Python control flow is followed as it went for
    `example` (the record holds the path taken, like a trace); the batch size is fixed (the
    auditor pads the last batch). A model that cannot be recorded: failure `contract`."""
    import torch

    from nasloop.sandbox.classify import CandidateFailure
    from nasloop.sandbox.failures import FailureClass
    from nasloop.sandbox.modelgraph_trace import trace

    try:
        with torch.no_grad():
            return trace(model, example)
    except Exception as exc:  # noqa: BLE001 - the candidate's forward, reported as such
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        why = first if isinstance(exc, NotExportable) else f"{type(exc).__name__}: {first}"
        raise CandidateFailure(FailureClass.CONTRACT, "the trained model cannot be recorded "
                               f"as a graph (it is scored from one): {why[:300]}") from None


def example_batch(x: torch.Tensor, n: int) -> torch.Tensor:
    """The first `n` inputs of `x`, padded with zeros to `n`: what a graph is recorded on."""
    import torch

    part = x[:n]
    if len(part) < n:
        part = torch.cat([part, part.new_zeros((n - len(part), *part.shape[1:]))])
    return part


def same_model(a: object, b: object) -> None:
    """BadGraph unless records `a` and `b` are the same model seen at two input sizes: the
    same values in the same order, the same stored tensors and operators, arguments that
    differ only in whole numbers (sizes)."""
    va = a.get("values") if isinstance(a, dict) else None
    vb = b.get("values") if isinstance(b, dict) else None
    if not isinstance(va, list) or not isinstance(vb, list) or len(va) != len(vb):
        raise BadGraph("the two recordings are not of the same model (their values differ)")
    for i, (x, y) in enumerate(zip(va, vb, strict=True)):
        if not _alike(x, y):
            raise BadGraph(f"the two recordings are not of the same model (value {i} differs)")


def _alike(x: object, y: object) -> bool:
    if type(x) is int and type(y) is int:
        return True
    if isinstance(x, dict) and isinstance(y, dict):
        if "ref" in x or "tensor" in x:  # the wiring and the weights: exactly alike
            return x == y
        return x.keys() == y.keys() and all(_alike(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_alike(p, q) for p, q in zip(x, y, strict=True))
    return type(x) is type(y) and x == y


# --- the auditor's side ----------------------------------------------------------------------

@dataclass(frozen=True)
class _Ref:
    index: int


_DEVICE = object()  # the auditor's own device, whatever device the graph was recorded on


@dataclass
class GraphProgram:
    """A returned graph, validated and rebuilt: call `run` on input batches."""

    batch: int
    shape: tuple[int, ...]
    values: list[Any]  # a tensor per stored value, None for the input and the calls
    input_index: int
    calls: list[tuple[int, Any, list[Any], dict[str, Any]]]  # (index, operator, args, kwargs)
    output: _Ref
    params: int  # stored elements, batch-norm running statistics excepted

    @classmethod
    def load(cls, raw: object, device: str = "cpu") -> GraphProgram:
        """Validate and rebuild `raw` (BadGraph, one line, for anything else)."""
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            raise BadGraph("no model graph in a known format")
        batch, shape = raw.get("batch"), raw.get("shape")
        if type(batch) is not int or not 1 <= batch <= 4096 or not _sizes(shape) \
                or not shape or shape[0] != batch:
            raise BadGraph("the graph's input shape is not a list of sizes")
        entries = raw.get("values")
        if not isinstance(entries, list) or not entries:
            raise BadGraph("the graph has no values")
        if len(entries) > MAX_VALUES:
            raise BadGraph(f"the graph has more than {MAX_VALUES} values")
        values: list[Any] = []
        calls = []
        inputs = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise BadGraph(f"value {i} is not an input, a tensor or an operator call")
            if entry.get("input") is True and len(entry) == 1:
                inputs.append(i)
                values.append(None)
            elif "tensor" in entry and len(entry) == 1:
                values.append(_tensor(entry["tensor"], i, device))
            elif "op" in entry:
                calls.append(_call(entry, i))
                values.append(None)
            else:
                raise BadGraph(f"value {i} is not an input, a tensor or an operator call")
        if len(inputs) != 1:
            raise BadGraph(f"the graph takes {len(inputs)} inputs, not one")
        output = _arg(raw.get("output"), len(entries))
        if not isinstance(output, _Ref):
            raise BadGraph("the graph's output is not a value of the graph")
        unused = raw.get("unused_parameters", [])
        if not isinstance(unused, list) or not all(_sizes(s) for s in unused):
            raise BadGraph("the unused parameters' shapes are not lists of sizes")
        params = _count(values, calls) + sum(math.prod(s) for s in unused)
        return cls(batch, tuple(shape), values, inputs[0], calls, output, params)

    def stored_shape(self, index: object) -> tuple[int, ...] | None:
        """The shape of stored value `index` (None when it is not a stored tensor)."""
        if type(index) is not int or not 0 <= index < len(self.values):
            return None
        found = self.values[index]
        return tuple(found.shape) if found is not None else None

    def padded(self, n: int) -> int:
        """How many inputs the graph runs on for `n` real ones (the last batch is padded)."""
        return -(-n // self.batch) * self.batch

    def run_batches(self, x: torch.Tensor, device: str) -> Iterator[tuple[Any, Any]]:
        """(inputs, outputs) of `x` in the graph's batches, each moved to `device`."""
        for i in range(0, len(x), self.batch):
            chunk = x[i:i + self.batch].to(device)
            yield chunk, self.run(chunk)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The graph's output for a batch of up to `batch` inputs (padded with zeros; the
        padding's rows are dropped)."""
        import torch

        n = x.shape[0]
        if tuple(x.shape[1:]) != self.shape[1:] or n > self.batch:
            raise BadGraph(f"inputs {tuple(x.shape)} do not fit the graph's {self.shape}")
        if n < self.batch:
            x = torch.cat([x, x.new_zeros((self.batch - n, *x.shape[1:]))])
        env: list[Any] = list(self.values)
        env[self.input_index] = x
        device = x.device
        for index, fn, args, kwargs in self.calls:
            try:
                env[index] = fn(*_resolve(args, env, device), **_resolve(kwargs, env, device))
            except Exception as exc:  # noqa: BLE001 - the graph's own doing
                why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
                raise BadGraph(f"{_name_of(fn)} failed: {type(exc).__name__}: {why}") from None
        out = env[self.output.index]
        if not isinstance(out, torch.Tensor) or out.dim() < 1 or out.shape[0] != self.batch:
            raise BadGraph("the graph's output is not a batch of tensors")
        return out[:n]


def _sizes(value: object) -> bool:
    return isinstance(value, list) and all(type(v) is int and 0 <= v < 2**31 for v in value)


def _tensor(kept: object, index: int, device: str) -> Any:
    import torch

    try:
        array = tensorfile.load(kept)
    except BadOutputs as err:
        raise BadGraph(f"stored tensor {index}: {err}") from None
    return torch.from_numpy(array if array.flags.writeable else array.copy()).to(device)


def _call(entry: dict[str, Any], index: int) -> tuple[int, Any, list[Any], dict[str, Any]]:
    if not isinstance(entry.get("op"), str) or set(entry) - {"op", "args", "kwargs"}:
        raise BadGraph(f"value {index} is not an operator call")
    fn = _lookup(entry["op"])
    args, kwargs = entry.get("args", []), entry.get("kwargs", {})
    if not isinstance(args, list) or not isinstance(kwargs, dict) or \
            not all(isinstance(k, str) for k in kwargs):
        raise BadGraph(f"value {index} has malformed arguments")
    return (index, fn, [_arg(a, index) for a in args],
            {k: _arg(v, index) for k, v in kwargs.items()})


def _lookup(name: str) -> Any:
    """The operator `name` names: an ATen overload or `operator.getitem`, nothing else."""
    import torch

    if name == GETITEM:
        return operator.getitem
    match = _ATEN_NAME.match(name)
    if match is None or match.group(1) in _REFUSED or match.group(1).startswith("_foreach"):
        raise BadGraph(f"operator {name[:80]!r} is not allowed")
    try:
        packet = getattr(torch.ops.aten, match.group(1))
        overload = getattr(packet, match.group(2))
    except (AttributeError, RuntimeError):
        raise BadGraph(f"no ATen operator {name[:80]!r}") from None
    if not isinstance(overload, torch._ops.OpOverload):
        raise BadGraph(f"{name[:80]!r} is not an ATen operator")
    return overload


def _arg(raw: object, index: int) -> Any:
    """An argument: a literal, a list of them, or a reference to a value before `index`."""
    import torch

    if isinstance(raw, SIMPLE):
        return raw
    if isinstance(raw, list):
        return [_arg(v, index) for v in raw]
    if isinstance(raw, dict) and len(raw) == 1:
        (key, value), = raw.items()
        if key == "ref" and type(value) is int and 0 <= value < index:
            return _Ref(value)
        if key == "float" and value in ("inf", "-inf", "nan"):
            return float(value)
        if key in ("dtype", "layout", "memory_format") and isinstance(value, str) and \
                value.isidentifier() and not value.startswith("_"):
            found = getattr(torch, value, None)
            kind = {"dtype": torch.dtype, "layout": torch.layout,
                    "memory_format": torch.memory_format}[key]
            if isinstance(found, kind):
                return found
        if key == "device" and value in ("cpu", "cuda"):
            return _DEVICE
    raise BadGraph("an argument is not a literal or an earlier value")


def _resolve(value: Any, env: list[Any], device: Any) -> Any:
    if isinstance(value, _Ref):
        return env[value.index]
    if value is _DEVICE:
        return device
    if isinstance(value, list):
        return [_resolve(v, env, device) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, env, device) for k, v in value.items()}
    return value


def _name_of(fn: Any) -> str:
    return str(getattr(fn, "_opname", getattr(fn, "__name__", fn)))


def _count(values: list[Any], calls: list[tuple[int, Any, list[Any], dict[str, Any]]]) -> int:
    """Elements of the stored tensors, except those used only as running statistics."""
    as_stats: set[int] = set()
    other: set[int] = set()
    for _, fn, args, kwargs in calls:
        stats = RUNNING_STATS.get(_name_of(fn), ())
        for pos, arg in enumerate(args):
            for ref in _refs(arg):
                (as_stats if pos in stats else other).add(ref)
        for arg in kwargs.values():
            other.update(_refs(arg))
    return sum(int(t.numel()) for i, t in enumerate(values)
               if t is not None and (i in other or i not in as_stats))


def _refs(arg: Any) -> list[int]:
    if isinstance(arg, _Ref):
        return [arg.index]
    if isinstance(arg, list):
        return [r for a in arg for r in _refs(a)]
    return []
