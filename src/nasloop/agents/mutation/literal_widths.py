"""Width changes made by editing the literals the widths come from (see provenance.py).

Used where a layer has no constructor call of its own to edit: layers built in loops,
from lists, stage configs, constants, dataclass fields or helper classes. One literal may
set several channel groups (``planes`` feeds both convolutions of a block); those groups
then change together, and each must stay consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasloop.agents.mutation.channels import ChannelGraph, Use
from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.provenance import Expr, Provenance, evaluate, literals_in, render
from nasloop.agents.mutation.spec import MutationError


@dataclass
class LiteralPlan:
    """New values of literals (``sigma``) and the new width of every group they change."""

    sigma: dict[int, int]
    widths: dict[int, int]  # group root -> new width


def _uses_by_root(graph: ChannelGraph) -> dict[int, list[Use]]:
    found: dict[int, list[Use]] = {}
    for var, uses in graph.uses.items():
        found.setdefault(graph.find(var), []).extend(uses)
    return found


def _solve(
    prov: Provenance, items: list[tuple[Use, Expr, int]], width: int, new: int,
    sigma: dict[int, int],
) -> dict[int, int]:
    """Extend ``sigma`` so that every tagged use evaluates to its target."""
    lits = prov.literals
    for _, expr, _ in items:  # uses that are one literal of the group's width
        if isinstance(expr, tuple) and expr[0] == "lit" and lits[expr[1]] == width:
            sigma.setdefault(expr[1], new)

    def ok(expr: Expr, target: int, trial: dict[int, int]) -> bool:
        try:
            return evaluate(expr, lits, trial) == target
        except (ZeroDivisionError, OverflowError):
            return False

    for use, expr, target in items:
        if isinstance(expr, int) or ok(expr, target, sigma):
            continue
        candidates = sorted(
            (k for k in literals_in(expr) if k not in sigma), key=lambda k: lits[k] != width
        )
        for k in candidates:
            value = lits[k]
            if value == width:
                choice = new
            elif value and value * new % width == 0:
                choice = value * new // width
            else:
                continue
            trial = {**sigma, k: choice}
            if ok(expr, target, trial) and all(
                isinstance(e, int) or ok(e, t, trial) for _, e, t in items if ok(e, t, sigma)
            ):
                sigma = trial
                break
        else:
            raise MutationError(
                f"{use.layer}.{use.param} is {render(expr, lits)}, which cannot become {target}"
            )
    return sigma


def plan_width(ctx: ModelContext, root: int, new: int) -> LiteralPlan:
    """The literal edits that set group ``root`` to width ``new``; MutationError if none."""
    graph, prov = ctx.graph(), ctx.provenance()
    by_root = _uses_by_root(graph)
    exprs: dict[tuple[str, str], Expr] = {}
    for uses in by_root.values():
        for use in uses:
            key = (use.layer, use.param)
            if key not in exprs:
                try:
                    exprs[key] = prov.expr(use.layer, use.param)
                except AttributeError:
                    exprs[key] = 0
    root = graph.find(root)
    targets, sigma, work = {root: new}, {}, [root]
    while work:
        current = work.pop()
        group = graph.group(current)
        if group.frozen:
            raise MutationError(group.frozen[0])
        width = targets[current]
        for layer, n in group.divisors:
            if width % n:
                raise MutationError(f"{layer} has {n} groups, which do not divide {width}")
        items = [(u, exprs[(u.layer, u.param)], width * u.scale) for u in by_root.get(current, [])]
        sigma = _solve(prov, items, group.width, width, sigma)
        for other, uses in by_root.items():  # groups the same literals also set
            if other in targets:
                continue
            for use in uses:
                expr = exprs[(use.layer, use.param)]
                if isinstance(expr, int) or not set(literals_in(expr)) & set(sigma):
                    continue
                value = evaluate(expr, prov.literals, sigma)
                if value != evaluate(expr, prov.literals, {}):
                    if value % use.scale or value <= 0:
                        raise MutationError(f"{use.layer}.{use.param} would become {value}")
                    targets[other] = value // use.scale
                    work.append(other)
                    break
    for current, width in targets.items():  # every changed group consistent at the end
        for use in by_root.get(current, []):
            expr = exprs[(use.layer, use.param)]
            if isinstance(expr, int):
                continue  # from no literal: computed in __init__ (a probe), it follows
            if evaluate(expr, prov.literals, sigma) != width * use.scale:
                raise MutationError(
                    f"{use.layer}.{use.param} ({render(expr, prov.literals)}) does not follow"
                    f" {prov.where(literals_in(expr)[0])}"
                )
    if not sigma:
        raise MutationError("no literal of the file sets this width")
    return LiteralPlan(sigma, targets)
