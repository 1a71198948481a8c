"""A transform file's composition: written from catalogue steps, read back and rewritten
with LibCST (static: nothing of the file is executed).

The composition is the list of the first `...Compose([...])` call in `def transform`; each
element that is a catalogue class with literal tunable arguments is a known step, any other
element is kept as it is written. `Identity()` is the empty composition's placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from nasloop.agents.mutation.spec import MutationError
from nasloop.tasks.augmentation.catalogue import BY_CLASS, NEUTRAL, Op, Scalar, op_named

HEADER = "from torchvision.transforms import v2\n\n\ndef transform():\n"


@dataclass(frozen=True)
class Step:
    """One op of a composition with its tunable arguments."""

    op: str
    args: dict[str, Scalar] = field(default_factory=dict)

    def describe(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.op}({inner})"


def describe(steps: list[Step]) -> str:
    """`crop(padding=4, padding_mode=edge); hflip(p=0.5)` (`identity` when empty)."""
    return "; ".join(s.describe() for s in steps) or "identity"


def call_text(step: Step, side: int, prefix: str = "v2.") -> str:
    """The source of one step: `v2.RandomCrop(size=32, padding=4, padding_mode='edge')`."""
    op = op_named(step.op)
    kwargs = dict(op.fixed(side))
    for p in op.params:
        value = step.args.get(p.kw)
        if value is None:
            raise MutationError(f"{step.op} needs {p.kw}=...")
        kwargs[p.kw] = p.write(p.check(value))
    return f"{prefix}{op.cls}({', '.join(f'{k}={v}' for k, v in kwargs.items())})"


def _list_text(elements: list[str], prefix: str, indent: str = "    ") -> str:
    """A one-element-per-line list; inside a parsed module LibCST adds the enclosing
    block's indentation itself (`indent=""`)."""
    if not elements:
        elements = [f"{prefix}{NEUTRAL}()"]
    return "[\n" + "".join(f"{indent}    {e},\n" for e in elements) + f"{indent}]"


def render(steps: list[Step], side: int) -> str:
    """A whole transform file for `steps` on images of side `side`."""
    items = [call_text(s, side) for s in steps]
    return f"{HEADER}    return v2.Compose({_list_text(items, 'v2.')})\n"


@dataclass(frozen=True)
class Element:
    """One element of a file's composition: its source, and its step when it is known."""

    text: str
    step: Step | None


@dataclass(frozen=True)
class Composition:
    """The composition of a parsed file, and what is needed to rewrite it."""

    module: cst.Module
    node: cst.List
    prefix: str  # how the file names the Compose's namespace ("v2.", "T.", "")
    elements: tuple[Element, ...]

    @property
    def steps(self) -> list[Step | None]:
        return [e.step for e in self.elements]

    def with_elements(self, texts: list[str]) -> str:
        """The file with its composition's list replaced by `texts`."""
        new = cst.parse_expression(_list_text(texts, self.prefix, indent=""))
        return self.module.deep_replace(self.node, new).code  # type: ignore[arg-type]


def _name(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


class _FirstCompose(cst.CSTVisitor):
    def __init__(self) -> None:
        self.found: cst.Call | None = None

    def visit_Call(self, node: cst.Call) -> bool:
        if self.found is None and _name(node.func) == "Compose" and node.args \
                and isinstance(node.args[0].value, cst.List):
            self.found = node
            return False
        return self.found is None


def _transform_def(module: cst.Module) -> cst.FunctionDef:
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "transform":
            return stmt
    raise MutationError("the file defines no function transform()")


def _step(module: cst.Module, call: cst.Call, op: Op) -> Step | None:
    args: dict[str, Scalar] = {}
    given = {a.keyword.value: a for a in call.args if a.keyword is not None}
    for p in op.params:
        arg = given.get(p.kw)
        if arg is None:
            return None
        try:
            args[p.kw] = p.check(p.read_literal(module.code_for_node(arg.value)))
        except (ValueError, TypeError, IndexError, SyntaxError):
            return None
    return Step(op.name, args)


def read(code: str) -> Composition:
    """The composition of a transform file; MutationError (one line) when it has none."""
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as err:
        raise MutationError(f"the file does not parse: {err.message}") from None
    finder = _FirstCompose()
    _transform_def(module).visit(finder)
    if finder.found is None:
        raise MutationError("transform() builds no Compose([...]) to rewrite")
    call = finder.found
    node = call.args[0].value
    assert isinstance(node, cst.List)
    prefix = module.code_for_node(call.func)[: -len("Compose")]
    elements = []
    for el in node.elements:
        value = el.value
        text = module.code_for_node(value)
        name = _name(value.func) if isinstance(value, cst.Call) else None
        if name == NEUTRAL:
            continue
        op = BY_CLASS.get(name or "")
        step = _step(module, value, op) if op is not None and isinstance(value, cst.Call) else None
        elements.append(Element(text, step))
    return Composition(module, node, prefix, tuple(elements))
