"""Which integer literals of the file a built layer's arguments come from.

The file is built once more with every integer literal replaced by a ``Tagged`` int that
remembers its literal and the arithmetic done on it. Widths reach the layers through local
variables, module constants, lists indexed or iterated in loops, dataclass defaults and
helper classes; the tag follows them all, so ``conv.out_channels`` reads back as
``literal 7`` or ``literal 3 * 16``. A width change then edits literals only: the child
keeps every expression of the parent (``c * (in_shape[2] // 4)`` stays an expression).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nasloop.agents.mutation.spec import MutationError

# ("lit", k) | int | (op name, expr, expr) | ("neg", expr)
Expr = int | tuple
_OPS: dict[str, Callable[[int, int], int]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
}  # fmt: skip
_SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "floordiv": "//", "mod": "%", "pow": "**"}


class Tagged(int):
    """An int that remembers which literal (and which arithmetic) it came from."""

    expr: Expr

    def __new__(cls, value: int, expr: Expr) -> Tagged:
        obj = super().__new__(cls, value)
        obj.expr = expr
        return obj

    def __deepcopy__(self, memo: dict) -> Tagged:
        return self

    def __copy__(self) -> Tagged:
        return self

    def __reduce__(self) -> tuple:
        return (Tagged, (int(self), self.expr))

    def __neg__(self) -> Tagged:
        return Tagged(-int(self), ("neg", self.expr))


def _of(value: Any) -> Expr:
    return value.expr if isinstance(value, Tagged) else int(value)


def _binary(name: str, reflected: bool) -> Callable[[Tagged, Any], Any]:
    func = _OPS[name]

    def method(self: Tagged, other: Any) -> Any:
        if isinstance(other, bool) or not isinstance(other, int):
            return func(other, int(self)) if reflected else func(int(self), other)
        a, b = (int(other), int(self)) if reflected else (int(self), int(other))
        ea, eb = (_of(other), self.expr) if reflected else (self.expr, _of(other))
        result = func(a, b)
        return Tagged(result, (name, ea, eb)) if isinstance(result, int) else result

    return method


for _name in _OPS:
    setattr(Tagged, f"__{_name}__", _binary(_name, reflected=False))
    setattr(Tagged, f"__r{_name}__", _binary(_name, reflected=True))


def evaluate(expr: Expr, literals: dict[int, int], sigma: dict[int, int]) -> int:
    """The value of ``expr`` with literal k set to ``sigma[k]`` (else its value)."""
    if isinstance(expr, int):
        return expr
    if expr[0] == "lit":
        return sigma.get(expr[1], literals[expr[1]])
    if expr[0] == "neg":
        return -evaluate(expr[1], literals, sigma)
    a, b = evaluate(expr[1], literals, sigma), evaluate(expr[2], literals, sigma)
    if expr[0] in ("floordiv", "mod") and b == 0:
        raise ZeroDivisionError
    return _OPS[expr[0]](a, b)


def literals_in(expr: Expr) -> list[int]:
    """The literal ids ``expr`` depends on, in order of first appearance."""
    if isinstance(expr, int):
        return []
    if expr[0] == "lit":
        return [expr[1]]
    return list(dict.fromkeys(k for part in expr[1:] for k in literals_in(part)))


def render(expr: Expr, literals: dict[int, int]) -> str:
    """``expr`` as text (literals by value)."""
    if isinstance(expr, int):
        return str(expr)
    if expr[0] == "lit":
        return str(literals[expr[1]])
    if expr[0] == "neg":
        return f"-{render(expr[1], literals)}"
    return f"({render(expr[1], literals)} {_SYMBOLS[expr[0]]} {render(expr[2], literals)})"


@dataclass
class Provenance:
    """The tagged build: literal values, their text spans, and the built model."""

    model: Any
    literals: dict[int, int] = field(default_factory=dict)
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)  # [start, end) in the code
    lines: dict[int, int] = field(default_factory=dict)

    def expr(self, layer: str, param: str) -> Expr:
        """Where ``layer.param``'s value comes from (an int when it comes from no literal)."""
        return _of(getattr(self.model.get_submodule(layer), param))

    def where(self, k: int) -> str:
        return f"the literal {self.literals[k]} on line {self.lines[k]}"

    def edit(self, code: str, sigma: dict[int, int]) -> str:
        """``code`` with literal k rewritten to ``sigma[k]``."""
        out, last = [], 0
        for k in sorted(sigma, key=lambda k: self.spans[k][0]):
            if sigma[k] == self.literals[k]:
                continue
            start, end = self.spans[k]
            out += [code[last:start], str(sigma[k])]
            last = end
        out.append(code[last:])
        return "".join(out)


class _Tagger(ast.NodeTransformer):
    def __init__(self, offsets: list[int], lines: list[bytes]) -> None:
        self.offsets, self.src_lines = offsets, lines
        self.literals: dict[int, int] = {}
        self.spans: dict[int, tuple[int, int]] = {}
        self.lines: dict[int, int] = {}

    def _char(self, line: int, col: int) -> int:
        return self.offsets[line - 1] + len(self.src_lines[line - 1][:col].decode())

    def visit_MatchValue(self, node: ast.AST) -> ast.AST:
        return node  # patterns must stay literals

    def visit_JoinedStr(self, node: ast.AST) -> ast.AST:
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if type(node.value) is not int or node.end_lineno is None or node.end_col_offset is None:
            return node
        k = len(self.literals)
        self.literals[k] = node.value
        self.spans[k] = (
            self._char(node.lineno, node.col_offset),
            self._char(node.end_lineno, node.end_col_offset),
        )
        self.lines[k] = node.lineno
        call = ast.Call(
            func=ast.Name("__nasloop_lit__", ast.Load()),
            args=[ast.Constant(node.value), ast.Constant(k)],
            keywords=[],
        )
        return ast.copy_location(call, node)


def tagged_build(code: str, in_shape: Sequence[int], num_classes: int) -> Provenance:
    """Build ``Net`` from ``code`` with tagged literals; MutationError if it cannot."""
    from nasloop.agents.mutation.model import instantiate, load_source

    raw_lines = code.encode().splitlines(keepends=True) or [b""]
    offsets = [0]
    for line in raw_lines:
        offsets.append(offsets[-1] + len(line.decode()))
    tagger = _Tagger(offsets, raw_lines)
    try:
        tree = ast.fix_missing_locations(tagger.visit(ast.parse(code)))
        compiled = compile(tree, "<candidate>", "exec")
    except (SyntaxError, ValueError, TypeError) as err:
        raise MutationError(f"the literals of the file cannot be followed: {err}") from None

    def lit(value: int, k: int) -> Tagged:
        return Tagged(value, ("lit", k))

    module = load_source(compiled, {"__nasloop_lit__": lit})
    try:
        model = instantiate(module, in_shape, num_classes)
    except Exception as err:  # noqa: BLE001
        raise MutationError(f"Net() fails with followed literals: {type(err).__name__}") from None
    return Provenance(model, tagger.literals, tagger.spans, tagger.lines)
