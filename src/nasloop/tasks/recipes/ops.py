"""The recipe operators ``loss(kind=...)`` and ``optimizer(kind=...)`` (LibCST, static).

They rewrite the ``self.criteria`` / ``self.optimizer`` assignments of a LEMUR file's
``train_setup`` (or a bare-form file's ``TRAIN_RECIPE`` literal), inject or remove the
loss classes nasloop owns, and keep ``supported_hyperparameters()`` declaring ``lr`` and,
for SGD only, ``momentum``. Nothing here executes the file, so the operators are safe on
untrusted candidates. They are deliberately not in ``agents.mutation.registry.OPERATORS``:
that registry drives the default architecture search.

The optimizer rewrite keeps the parameter argument, ``lr`` (when it reads ``prm["lr"]``,
else it becomes that) and ``weight_decay``, and drops every other, optimizer-specific
argument. A tuple of criteria keeps its shape; only its first loss is rewritten.
"""

from __future__ import annotations

import json
from dataclasses import replace

import libcst as cst

from nasloop.agents.mutation.rewrite import Edits, expr, replace_call
from nasloop.agents.mutation.spec import Mutation, MutationError
from nasloop.tasks.recipes.cstedit import ensure_import_torch, insert_at, respaced
from nasloop.tasks.recipes.hparams import keys_read, sync_supported
from nasloop.tasks.recipes.losses import INJECTED, is_canonical
from nasloop.tasks.recipes.read import (
    BareSite,
    LemurSite,
    parse,
    read,
    recipe_of,
)
from nasloop.tasks.recipes.vocab import (
    LOSS_KINDS,
    LOSS_OP,
    LOSSES,
    OPTIMIZER_KINDS,
    OPTIMIZER_OP,
    OPTIMIZERS,
    RECIPE_NAME,
    Recipe,
    check_kind,
)

__all__ = ["Recipe", "apply_recipe", "recipe_mutations", "recipe_of", "with_recipe"]

_KEPT_KEYWORDS = ("weight_decay",)  # accepted by all six optimizers


def recipe_mutations(code: str) -> list[Mutation]:
    """Every loss and optimizer kind other than the file's own, losses first, in vocabulary
    order; MutationError when the file's recipe cannot be read."""
    recipe = recipe_of(code)
    return [Mutation(op=LOSS_OP, args={"kind": k}) for k in LOSSES if k != recipe.loss] + [
        Mutation(op=OPTIMIZER_OP, args={"kind": k}) for k in OPTIMIZERS if k != recipe.optimizer
    ]


def apply_recipe(code: str, mutation: Mutation) -> str:
    """The file rewritten by a ``loss``/``optimizer`` mutation; the same kind returns ``code``
    unchanged. MutationError (one line) when the mutation is malformed or cannot apply."""
    if mutation.layer is not None or set(mutation.args) != {"kind"}:
        raise MutationError(f"{mutation.describe()}: a recipe mutation takes only kind=...")
    kind = check_kind(mutation.op, mutation.args["kind"])
    site = read(code)
    target = replace(site.recipe, **{mutation.op: kind})
    if target == site.recipe:
        return code
    if isinstance(site, BareSite):
        new = _write_bare(site, target)
    elif mutation.op == LOSS_OP:
        new = _write_loss(site, kind)
    else:
        new = _write_optimizer(site, kind)
    if recipe_of(new) != target:  # pragma: no cover - a bug of the writers, not of the file
        raise MutationError(f"{mutation.describe()} did not take: reads {recipe_of(new)}")
    return new


def with_recipe(code: str, loss: str, optimizer: str) -> str:
    """The file set to train with ``loss`` and ``optimizer`` (the study grid's rewrite)."""
    recipe = Recipe(loss, optimizer)
    code = apply_recipe(code, Mutation(op=LOSS_OP, args={"kind": recipe.loss}))
    return apply_recipe(code, Mutation(op=OPTIMIZER_OP, args={"kind": recipe.optimizer}))


def _write_bare(site: BareSite, recipe: Recipe) -> str:
    pairs = {LOSS_OP: recipe.loss, OPTIMIZER_OP: recipe.optimizer}
    new = cst.parse_statement(f"{RECIPE_NAME} = {json.dumps(pairs)}\n")
    module = site.module
    if site.stmt is not None:
        return module.deep_replace(site.stmt, new.with_changes(  # type: ignore[union-attr]
            leading_lines=site.stmt.leading_lines)).code
    first = next(i for i, s in enumerate(module.body) if isinstance(s, (cst.ClassDef,
                                                                        cst.FunctionDef)))
    return insert_at(module, first, new).code


def _write_loss(site: LemurSite, kind: str) -> str:
    spec = LOSS_KINDS[kind]
    if spec.injected is not None:
        text = f"{spec.injected}()"
    else:
        kwargs = ", ".join(f"{key}={value}" for key, value in spec.nn_kwargs)
        text = f"{site.nn_prefix or 'torch.nn.'}{spec.nn_class}({kwargs})"
    edits = Edits()
    edits.call(site.loss_call, replace_call(text))
    module = _sync_injected(parse(edits.apply(site.module)))
    if site.nn_prefix is None:
        module = ensure_import_torch(module)
    return module.code


def _write_optimizer(site: LemurSite, kind: str) -> str:
    spec = OPTIMIZER_KINDS[kind]
    call = site.optimizer_call
    args = list(call.args)
    positional = [a for a in args if a.keyword is None]
    keyword = {a.keyword.value: a for a in args if a.keyword is not None}
    params = keyword.get("params") or (positional[0] if positional else None)
    if params is None:
        raise MutationError("the optimizer call has no parameter argument")
    lr = keyword.get("lr") or (positional[1] if len(positional) > 1 else None)
    wanted = ["lr", "momentum"] if spec.momentum else ["lr"]
    kept: list[cst.Arg] = []
    for arg in args:
        name = arg.keyword.value if arg.keyword is not None else None
        if arg is params or name in _KEPT_KEYWORDS:
            kept.append(arg)
        elif arg is lr or name in wanted:
            key = "lr" if arg is lr else str(name)
            reads = key in keys_read(arg.value, {site.prm})
            kept.append(arg if reads else arg.with_changes(value=expr(_prm(site, key))))
            wanted.remove(key)
    kept += [cst.Arg(value=expr(_prm(site, key)), keyword=cst.Name(key),
                     equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                           whitespace_after=cst.SimpleWhitespace("")))
             for key in wanted]
    func = expr(f"{site.optim_prefix or 'torch.optim.'}{spec.torch_class}")
    new_call = call.with_changes(func=func, args=respaced(args, kept))
    edits = Edits()
    edits.call(call, lambda _: new_call)
    module = sync_supported(parse(edits.apply(site.module)), site.quote)
    if site.optim_prefix is None:
        module = ensure_import_torch(module)
    return module.code


def _prm(site: LemurSite, key: str) -> str:
    return f"{site.prm}[{site.quote}{key}{site.quote}]"


class _NameUses(cst.CSTVisitor):
    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)


def _sync_injected(module: cst.Module) -> cst.Module:
    """Insert each injected loss class the file now uses (before ``class Net``) and drop
    each one it no longer uses; a class of that name that is not nasloop's is an error."""
    for name, source in INJECTED.items():
        defs = [s for s in module.body if isinstance(s, cst.ClassDef) and s.name.value == name]
        uses = _NameUses()
        for stmt in module.body:
            if stmt not in defs:
                stmt.visit(uses)
        ours = [d for d in defs if is_canonical(name, module.code_for_node(d))]
        if name in uses.names and not defs:
            net = max(i for i, s in enumerate(module.body)
                      if isinstance(s, cst.ClassDef) and s.name.value == "Net")
            module = insert_at(module, net, cst.parse_statement(source), blank=2)
            module = ensure_import_torch(module)
        elif name in uses.names and len(ours) != len(defs):
            raise MutationError(f"the file defines its own class {name}; nasloop's "
                                f"{name} cannot be injected")
        elif name not in uses.names and ours:
            module = module.with_changes(body=[s for s in module.body if s not in ours])
    return module
