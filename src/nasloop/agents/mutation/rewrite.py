"""Apply planned edits to the LibCST tree; everything not edited keeps its exact text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from nasloop.agents.mutation.source import LayerSite, get_arg, set_arg
from nasloop.agents.mutation.spec import MutationError

CallEdit = Callable[[cst.Call], cst.BaseExpression]


@dataclass
class Edits:
    """Edits keyed by the original nodes they replace (LibCST nodes compare by identity)."""

    calls: dict[cst.Call, list[CallEdit]] = field(default_factory=dict)
    after: dict[cst.SimpleStatementLine, list[str]] = field(default_factory=dict)
    before: dict[cst.SimpleStatementLine, list[str]] = field(default_factory=dict)
    remove: set[cst.SimpleStatementLine] = field(default_factory=set)
    # when set, functions outside it are not even visited (a speed-up for local edits)
    only: set[cst.FunctionDef] | None = None
    # arguments whose expression an edit replaced by a bare literal (generality lost)
    flattened: list[str] = field(default_factory=list)

    def call(self, node: cst.Call, edit: CallEdit) -> None:
        """Queue an edit of one call; several edits of one call compose in order."""
        self.calls.setdefault(node, []).append(edit)

    def apply(self, module: cst.Module) -> str:
        """The edited source."""
        return module.visit(_Editor(self)).code


class _Editor(cst.CSTTransformer):
    def __init__(self, edits: Edits) -> None:
        self.edits = edits
        self.pending: list[cst.EmptyLine] = []  # comment lines of a removed statement

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return self.edits.only is None or node in self.edits.only

    def _take_pending(self, node: cst.SimpleStatementLine) -> cst.SimpleStatementLine:
        if not self.pending:
            return node
        lines, self.pending = self.pending, []
        return node.with_changes(leading_lines=[*lines, *node.leading_lines])

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        if self.pending:
            lines, self.pending = self.pending, []
            return updated.with_changes(leading_lines=[*lines, *updated.leading_lines])
        return updated

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        result: cst.BaseExpression = updated
        for edit in self.edits.calls.get(original, []):
            if not isinstance(result, cst.Call):
                raise MutationError("two edits of one call conflict")
            result = edit(result)
        return result

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        before = [cst.parse_statement(s + "\n") for s in self.edits.before.get(original, [])]
        after = [cst.parse_statement(s + "\n") for s in self.edits.after.get(original, [])]
        if original in self.edits.remove:
            if before or after:
                first = before[0] if before else after[0]
                lines = [*updated.leading_lines, *first.leading_lines]
                rest = [*before, *after][1:]
                return cst.FlattenSentinel([first.with_changes(leading_lines=lines), *rest])
            self.pending += [line for line in updated.leading_lines if line.comment]
            return cst.RemoveFromParent()
        updated = self._take_pending(updated)
        if before or after:
            if before:  # the comment lines above the statement stay above the whole run
                before[0] = before[0].with_changes(leading_lines=updated.leading_lines)
                updated = updated.with_changes(leading_lines=())
            return cst.FlattenSentinel([*before, updated, *after])
        return updated


def expr(code: str) -> cst.BaseExpression:
    """Parse one expression."""
    return cst.parse_expression(code)


def set_int(
    site: LayerSite, param: str, old: int, new: int, factor_hint: int | None = None,
    flattened: list[str] | None = None,
) -> CallEdit:
    """An edit binding an integer constructor argument to ``new`` (value ``old`` now).

    A literal becomes the new literal; a product such as ``16 * (h // 4) * (w // 4)`` keeps
    its shape when one literal factor equals ``factor_hint`` and scales exactly; anything
    else becomes the literal value.
    """

    def edit(call: cst.Call) -> cst.BaseExpression:
        arg = get_arg(call, site.type_name, param)
        value: cst.BaseExpression = cst.Integer(str(new))
        if arg is not None and factor_hint and new * factor_hint % old == 0:
            replaced = _replace_factor(arg.value, factor_hint, new * factor_hint // old)
            if replaced is not None:
                value = replaced
        if flattened is not None and arg is not None and value.deep_equals(cst.Integer(str(new))):
            if not isinstance(arg.value, cst.Integer):
                flattened.append(f"{site.name}.{param}")
        return set_arg(call, site.type_name, param, value)

    return edit


def _replace_factor(node: cst.BaseExpression, old: int, new: int) -> cst.BaseExpression | None:
    if isinstance(node, cst.Integer) and node.evaluated_value == old:
        return node.with_changes(value=str(new))
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Multiply):
        left = _replace_factor(node.left, old, new)
        if left is not None:
            return node.with_changes(left=left)
        right = _replace_factor(node.right, old, new)
        if right is not None:
            return node.with_changes(right=right)
    return None


def insert_elements(index: int, elements: list[str]) -> CallEdit:
    """An edit inserting expressions into a Sequential call before position ``index``."""

    def edit(call: cst.Call) -> cst.BaseExpression:
        args = list(call.args)
        commas = [a.comma for a in args]
        sep = next((c for c in commas[:-1] if isinstance(c, cst.Comma)), None) or cst.Comma(
            whitespace_after=cst.SimpleWhitespace(" ")
        )
        trailing = commas[-1] if commas else cst.MaybeSentinel.DEFAULT
        new_args = args[:index] + [cst.Arg(value=expr(e)) for e in elements] + args[index:]
        count = len(new_args)
        new_args = [
            a.with_changes(comma=sep if i < count - 1 else trailing) for i, a in enumerate(new_args)
        ]
        return call.with_changes(args=new_args)

    return edit


def remove_element(index: int) -> CallEdit:
    """An edit removing positional element ``index`` of a Sequential call."""

    def edit(call: cst.Call) -> cst.BaseExpression:
        args = list(call.args)
        trailing = args[-1].comma
        del args[index]
        if args:
            args[-1] = args[-1].with_changes(comma=trailing)
        return call.with_changes(args=args)

    return edit


def wrap_call(wrapper: str) -> CallEdit:
    """An edit turning ``self.x(a)`` into ``<wrapper>(self.x(a))``."""

    def edit(call: cst.Call) -> cst.BaseExpression:
        return cst.Call(func=expr(wrapper), args=[cst.Arg(value=call)])

    return edit


def wrap_arg(wrapper: str) -> CallEdit:
    """An edit turning ``self.x(a)`` into ``self.x(<wrapper>(a))``."""

    def edit(call: cst.Call) -> cst.BaseExpression:
        first = call.args[0]
        inner = cst.Call(func=expr(wrapper), args=[cst.Arg(value=first.value)])
        return call.with_changes(args=[first.with_changes(value=inner), *call.args[1:]])

    return edit


def unwrap_call() -> CallEdit:
    """An edit turning ``self.x(a)`` into ``a``."""

    def edit(call: cst.Call) -> cst.BaseExpression:
        value = call.args[0].value
        atoms = (cst.Name, cst.Call, cst.Attribute, cst.Subscript)
        if isinstance(value, atoms) or getattr(value, "lpar", ()):
            return value
        return value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])

    return edit


def replace_call(code: str) -> CallEdit:
    """An edit replacing the whole call with ``code``."""
    return lambda call: expr(code)


def call_spans(module: cst.Module, calls: list[cst.Call]) -> dict[cst.Call, tuple[int, int]]:
    """Character offsets ``[start, end)`` of the given call nodes in ``module.code``."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    code = module.code
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = {}
    for call in calls:
        where = positions[call]
        spans[call] = (
            starts[where.start.line - 1] + where.start.column,
            starts[where.end.line - 1] + where.end.column,
        )
    return spans


def apply_spliced(
    edits: Edits, module: cst.Module, spans: dict[cst.Call, tuple[int, int]], code: str
) -> str | None:
    """Apply call-only edits by re-rendering just the edited calls and splicing their text.

    ``code`` is ``module.code`` (passed in: rendering it again costs as much as a transform).
    Much faster than a whole-tree transform; returns None when it does not apply (statement
    edits, a call without a known span, or nested edited calls).
    """
    if edits.after or edits.before or edits.remove or any(c not in spans for c in edits.calls):
        return None
    pieces = sorted((spans[call], call) for call in edits.calls)
    for (prev, _), (cur, _) in zip(pieces, pieces[1:], strict=False):
        if cur[0] < prev[1]:
            return None
    out, last = [], 0
    for (start, end), call in pieces:
        result: cst.BaseExpression = call
        for edit in edits.calls[call]:
            if not isinstance(result, cst.Call):
                return None
            result = edit(result)
        out += [code[last:start], module.code_for_node(result)]
        last = end
    out.append(code[last:])
    return "".join(out)
