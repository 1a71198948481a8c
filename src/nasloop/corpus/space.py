"""The channel-configuration space of a model: one free width per channel group."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from torch import nn

from nasloop.agents.mutation import Mutation, MutationError
from nasloop.agents.mutation.channels import Group
from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.ops_width import (
    MAX_WIDTH,
    MIN_WIDTH,
    group_problem,
    literal_plan,
    producers,
    site_based,
    width_edits,
)
from nasloop.agents.mutation.rewrite import Edits, apply_spliced, call_spans

FACTORS: tuple[float, ...] = (0.25, 0.5, 0.75, 1.25, 1.5, 2.0, 3.0, 4.0)


@dataclass(frozen=True)
class Slot:
    """One channel group: its first producer layer (in source order), width and choices."""

    layer: str
    width: int
    choices: tuple[int, ...]  # the other widths it may take
    literal: bool = False  # set by editing the literals it comes from (not its calls)


def channel_space(ctx: ModelContext, factors: tuple[float, ...] = FACTORS) -> list[Slot]:
    """The free channel groups of the model; MutationError if there are none.

    Net's own layers first (their constructor calls are edited), then the groups whose
    widths come from literals elsewhere in the file (loops, lists, constants, helper
    classes); groups one literal sets together are one slot.
    """
    graph = ctx.graph()
    slots: list[Slot] = []
    seen: set[int] = set()

    def choices(group: Group) -> tuple[int, ...]:
        widths = {max(MIN_WIDTH, min(MAX_WIDTH, round(group.width * f))) for f in factors}
        widths = {w for w in widths if all(w % n == 0 for _, n in group.divisors)}
        widths.discard(group.width)
        return tuple(sorted(widths))

    for site in ctx.sites_of(nn.modules.conv._ConvNd, nn.Linear):
        if site.owner != "Net":
            continue
        var = graph.out_var.get(site.name)
        if var is None or graph.find(var) in seen:
            continue
        group = graph.group(var)
        if group_problem(ctx, group):
            continue
        seen.add(graph.find(var))
        widths = choices(group)
        if widths:
            slots.append(Slot(site.name, group.width, widths))
    for layer in producers(ctx):
        var = graph.out_var.get(layer)
        if var is None or graph.find(var) in seen:
            continue
        seen.add(graph.find(var))
        group = graph.group(var)
        usable = []
        for width in choices(group):
            try:
                plan = literal_plan(ctx, layer, width)
            except MutationError:
                continue
            seen.update(plan.widths)
            usable.append(width)
        if usable:
            slots.append(Slot(layer, group.width, tuple(usable), literal=True))
    if not slots:
        raise MutationError("the model has no channel width that can change")
    return slots


def sample(slots: list[Slot], seed: int, attempt: int) -> dict[str, int]:
    """A deterministic configuration for ``attempt``: new widths of 1..all groups."""
    rng = random.Random(f"nasloop-channels-{seed}-{attempt}")
    changed = rng.sample(slots, rng.randint(1, len(slots)))
    chosen = {slot.layer: rng.choice(slot.choices) for slot in changed}
    return {slot.layer: chosen[slot.layer] for slot in slots if slot.layer in chosen}


def config_key(slots: list[Slot], config: dict[str, int]) -> str:
    """A canonical text key of the full configuration (unchanged groups included)."""
    return ",".join(f"{s.layer}={config.get(s.layer, s.width)}" for s in slots)


def mutations_for(slots: list[Slot], config: dict[str, int]) -> list[Mutation]:
    """The chain of typed mutations that realises ``config`` (one per changed group)."""
    widths = {s.layer: s.width for s in slots}
    return [
        Mutation(
            op="widen" if new > widths[layer] else "narrow",
            layer=layer,
            args={"channels": new},
        )
        for layer, new in config.items()
    ]


def realise(
    ctx: ModelContext, config: dict[str, int], spans: dict[Any, tuple[int, int]] | None = None
) -> str:
    """The source with every group in ``config`` set to its new width, in one rewrite.

    ``spans`` (from :func:`site_spans`) lets it splice the edited calls into the text
    instead of transforming the whole tree; the result is the same. Widths set by
    literals, or whose call edits would replace an expression by a number, are realised
    by editing literals for the whole configuration.
    """
    merged = Edits()
    by_literals = False
    for layer, width in config.items():
        if not site_based(ctx, layer):
            by_literals = True
            break
        edits = width_edits(ctx, layer, width)
        by_literals = by_literals or bool(edits.flattened)
        for node, node_edits in edits.calls.items():
            for edit in node_edits:
                merged.call(node, edit)
    if by_literals:
        try:
            return _realise_literals(ctx, config)
        except MutationError:
            if not all(site_based(ctx, layer) for layer in config):
                raise
    if spans is not None:
        spliced = apply_spliced(merged, ctx.src.module, spans, ctx.code)
        if spliced is not None:
            return spliced
    return merged.apply(ctx.src.module)


def _realise_literals(ctx: ModelContext, config: dict[str, int]) -> str:
    sigma: dict[int, int] = {}
    for layer, width in config.items():
        for k, value in literal_plan(ctx, layer, width).sigma.items():
            if sigma.setdefault(k, value) != value:
                where = ctx.provenance().where(k)
                raise MutationError(f"two widths of the configuration set {where}")
    return ctx.provenance().edit(ctx.code, sigma)


def site_spans(ctx: ModelContext) -> dict[Any, tuple[int, int]]:
    """Text spans of every layer constructor call (computed once per parent)."""
    return call_spans(ctx.src.module, [site.call for site in ctx.sites.values()])
