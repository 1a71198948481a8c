"""Read a model file's recipe statically (LibCST; nothing is executed) and find the nodes
that set it: ``self.criteria`` / ``self.optimizer`` in a LEMUR ``train_setup``, or the
module-level ``TRAIN_RECIPE`` literal of a bare-form file."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from nasloop.agents.mutation.source import self_attr
from nasloop.agents.mutation.spec import MutationError
from nasloop.sandbox.failures import ContractError, FailureClass
from nasloop.tasks.image_classification.contract import detect_form
from nasloop.tasks.recipes.cstedit import bindings, resolve, spelling
from nasloop.tasks.recipes.losses import INJECTED, is_canonical
from nasloop.tasks.recipes.vocab import (
    DEFAULT_RECIPE,
    LOSS_KINDS,
    LOSS_OP,
    OPTIMIZER_KINDS,
    OPTIMIZER_OP,
    RECIPE_NAME,
    Recipe,
    check_kind,
)

_OPTIMIZER_BY_PATH = {f"torch.optim.{k.torch_class}": k.name for k in OPTIMIZER_KINDS.values()}
_LOSS_BY_CLASS = {k.injected: k.name for k in LOSS_KINDS.values() if k.injected}


@dataclass(eq=False)
class LemurSite:
    """Where a LEMUR file sets its recipe (nodes of ``module``)."""

    module: cst.Module
    recipe: Recipe
    loss_call: cst.Call  # the constructor of the (first) criterion, inside any .to(...)
    optimizer_call: cst.Call
    prm: str  # train_setup's name for the hyperparameter dict
    quote: str  # the quote the file uses in prm["..."]
    nn_prefix: str | None  # how the imports let the file spell torch.nn ("nn."), else None
    optim_prefix: str | None  # the same for torch.optim


@dataclass(eq=False)
class BareSite:
    """A bare-form file's ``TRAIN_RECIPE`` literal (``stmt`` None when absent)."""

    module: cst.Module
    recipe: Recipe
    stmt: cst.SimpleStatementLine | None


def parse(code: str) -> cst.Module:
    """The LibCST module; MutationError when the file does not parse."""
    try:
        return cst.parse_module(code)
    except cst.ParserSyntaxError as err:
        raise MutationError(f"the file does not parse: {str(err).splitlines()[0]}") from None


def read(code: str) -> LemurSite | BareSite:
    """Locate the recipe of ``code``; MutationError(one line) when it cannot be understood."""
    try:
        form = detect_form(code)
    except ContractError as err:
        syntax = err.failure_class == FailureClass.SYNTAX
        raise MutationError(f"the file does not parse: {err.message}" if syntax
                            else err.message) from None
    module = parse(code)
    return _read_lemur(module) if form == "lemur" else _read_bare(module)


def recipe_of(code: str) -> Recipe:
    """The recipe a file trains with, read statically (a bare file without ``TRAIN_RECIPE``
    trains with cross_entropy + sgd)."""
    return read(code).recipe


class _Quote(cst.CSTVisitor):
    """The quote of the first ``<name>["..."]`` subscript."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.quote: str | None = None

    def visit_Subscript(self, node: cst.Subscript) -> None:
        index = node.slice[0].slice if len(node.slice) == 1 else None
        if (self.quote is None and isinstance(node.value, cst.Name)
                and node.value.value == self.name and isinstance(index, cst.Index)
                and isinstance(index.value, cst.SimpleString)):
            self.quote = index.value.quote


def _net(module: cst.Module) -> cst.ClassDef:
    nets = [s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == "Net"]
    return nets[-1]  # detect_form found it; Python keeps the last definition


def _method(cls: cst.ClassDef, name: str) -> cst.FunctionDef:
    found = [s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name]
    return found[-1]


class _Assigns(cst.CSTVisitor):
    """Every ``self.<attr> = value`` in a function, nested blocks included."""

    def __init__(self) -> None:
        self.found: dict[str, list[cst.BaseExpression]] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            attr = self_attr(target.target)
            if attr is not None:
                self.found.setdefault(attr, []).append(node.value)


def _one_assignment(assigns: _Assigns, attr: str) -> cst.BaseExpression:
    values = assigns.found.get(attr, [])
    if len(values) != 1:
        how = "never sets" if not values else "sets"
        times = f" {len(values)} times" if values else ""
        raise MutationError(f"train_setup {how} self.{attr}{times}; the recipe operators "
                            "need exactly one assignment")
    return values[0]


def _loss_call(criteria: cst.BaseExpression) -> cst.BaseExpression:
    """The first criterion of a tuple/list, or the single one, without its ``.to(...)``."""
    loss = criteria
    if isinstance(criteria, (cst.Tuple, cst.List)):
        if not criteria.elements or isinstance(criteria.elements[0], cst.StarredElement):
            raise MutationError("self.criteria has no first loss to rewrite")
        loss = criteria.elements[0].value
    while (isinstance(loss, cst.Call) and isinstance(loss.func, cst.Attribute)
           and loss.func.attr.value == "to" and isinstance(loss.func.value, cst.Call)):
        loss = loss.func.value
    return loss


def _number(node: cst.BaseExpression) -> float | None:
    if isinstance(node, (cst.Integer, cst.Float)):
        return float(node.evaluated_value)
    return None


def _loss_kind(call: cst.Call, bound: dict[str, str], module: cst.Module) -> str | None:
    if resolve(call.func, bound) == "torch.nn.CrossEntropyLoss":
        kwargs = {a.keyword.value: _number(a.value) for a in call.args if a.keyword}
        if len(kwargs) != len(call.args) or None in kwargs.values():
            return None
        for kind in LOSS_KINDS.values():
            if kind.nn_class == "CrossEntropyLoss" and dict(kind.nn_kwargs) == kwargs:
                return kind.name
        return None
    if not isinstance(call.func, cst.Name) or call.func.value not in INJECTED or call.args:
        return None
    name = call.func.value
    classes = [s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name]
    if not classes or not is_canonical(name, module.code_for_node(classes[-1])):
        raise MutationError(f"class {name} in the file is not nasloop's {_LOSS_BY_CLASS[name]} "
                            "loss (missing or edited)")
    return _LOSS_BY_CLASS[name]


def _read_lemur(module: cst.Module) -> LemurSite:
    bound = bindings(module)
    setup = _method(_net(module), "train_setup")
    params = setup.params.params
    if len(params) < 2:
        raise MutationError("train_setup takes no prm argument")
    prm = params[1].name.value
    assigns = _Assigns()
    setup.visit(assigns)
    criteria = _one_assignment(assigns, "criteria")
    optimizer = _one_assignment(assigns, "optimizer")
    loss = _loss_call(criteria)
    loss_kind = _loss_kind(loss, bound, module) if isinstance(loss, cst.Call) else None
    if loss_kind is None:
        text = module.code_for_node(loss)
        raise MutationError(f"unknown loss construction in train_setup: {text}")
    optimizer_kind = None
    if isinstance(optimizer, cst.Call) and not any(a.star for a in optimizer.args):
        optimizer_kind = _OPTIMIZER_BY_PATH.get(resolve(optimizer.func, bound) or "")
    if optimizer_kind is None:
        text = module.code_for_node(optimizer).splitlines()[0]
        raise MutationError(f"unknown optimizer construction in train_setup: {text}")
    assert isinstance(loss, cst.Call) and isinstance(optimizer, cst.Call)
    quote = _Quote(prm)
    module.visit(quote)
    return LemurSite(module, Recipe(loss_kind, optimizer_kind), loss, optimizer, prm,
                     quote.quote or '"', spelling(bound, "torch.nn"),
                     spelling(bound, "torch.optim"))


def recipe_statements(module: cst.Module) -> list[tuple[cst.SimpleStatementLine, cst.Assign]]:
    """The module-level ``TRAIN_RECIPE = ...`` statements."""
    found = []
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (isinstance(small, cst.Assign) and len(small.targets) == 1
                        and isinstance(small.targets[0].target, cst.Name)
                        and small.targets[0].target.value == RECIPE_NAME):
                    found.append((stmt, small))
    return found


def _read_bare(module: cst.Module) -> BareSite:
    found = recipe_statements(module)
    if not found:
        return BareSite(module, DEFAULT_RECIPE, None)
    if len(found) > 1 or len(found[0][0].body) != 1:
        raise MutationError(f"{RECIPE_NAME} must be assigned once, on a line of its own")
    stmt, assign = found[0]
    value = assign.value
    pairs: dict[str, object] = {}
    if isinstance(value, cst.Dict):
        for element in value.elements:
            if not (isinstance(element, cst.DictElement)
                    and isinstance(element.key, cst.SimpleString)
                    and isinstance(element.value, cst.SimpleString)):
                pairs = {}
                break
            pairs[str(element.key.evaluated_value)] = element.value.evaluated_value
    if not pairs or not set(pairs) <= {LOSS_OP, OPTIMIZER_OP}:
        raise MutationError(f'{RECIPE_NAME} must be a literal {{"{LOSS_OP}": "...", '
                            f'"{OPTIMIZER_OP}": "..."}}')
    recipe = Recipe(check_kind(LOSS_OP, pairs.get(LOSS_OP, DEFAULT_RECIPE.loss)),
                    check_kind(OPTIMIZER_OP, pairs.get(OPTIMIZER_OP, DEFAULT_RECIPE.optimizer)))
    return BareSite(module, recipe, stmt)
