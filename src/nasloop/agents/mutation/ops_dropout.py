"""dropout: set the rate of the model's dropout layers, or add one before the classifier."""

from __future__ import annotations

from torch import nn

from nasloop.agents.mutation.context import ModelContext
from nasloop.agents.mutation.registry import register
from nasloop.agents.mutation.rewrite import Edits, expr, insert_elements, wrap_arg
from nasloop.agents.mutation.source import LayerSite, set_arg
from nasloop.agents.mutation.spec import Mutation, MutationError

RATES = (0.0, 0.1, 0.25, 0.5)
_DROPOUTS = (nn.Dropout, nn.Dropout2d)


def _classifier(ctx: ModelContext) -> LayerSite:
    """The last linear layer in source order (where a new dropout goes in front)."""
    linears = [s for s in ctx.sites_of(nn.Linear) if s.owner == "Net"]
    if not linears:
        raise MutationError("the model has no dropout layer and no linear layer to put one before")
    return linears[-1]


@register("dropout", "set the dropout rate (adds a dropout before the classifier if none)")
class Dropout:
    @staticmethod
    def propose(ctx: ModelContext) -> list[Mutation]:
        sites = ctx.sites_of(*_DROPOUTS)
        if sites:
            rates = {round(float(ctx.module(s.name).p), 4) for s in sites}
        else:
            try:
                site = _classifier(ctx)
                if site.direct:
                    ctx.single_use(site)
            except MutationError:
                return []
            rates = {0.0}
        return [Mutation(op="dropout", args={"p": p}) for p in RATES if rates != {p}]

    @staticmethod
    def apply(ctx: ModelContext, mutation: Mutation) -> str:
        p = float(mutation.args.get("p", 0.25))
        if not 0.0 <= p < 1.0:
            raise MutationError(f"dropout rate {p} is outside [0, 1)")
        sites = ctx.sites_of(*_DROPOUTS)
        if mutation.layer is not None:
            sites = [s for s in sites if s.name == mutation.layer]
            if not sites:
                raise MutationError(f"{mutation.layer} is not a dropout layer")
        edits = Edits()
        if sites:
            for site in sites:
                edits.call(site.call, lambda c, t=site.type_name: set_arg(c, t, "p", expr(f"{p}")))
            return edits.apply(ctx.src.module)
        if p == 0.0:
            raise MutationError("the model has no dropout to set to 0")
        site = _classifier(ctx)
        new = f"{ctx.src.nn_prefix}Dropout(p={p})"
        if site.direct:
            call = ctx.single_use(site)
            attr = ctx.fresh_attr("dropout", site.owner)
            assert site.stmt is not None
            edits.before[site.stmt] = [f"self.{attr} = {new}"]
            edits.call(call, wrap_arg(f"self.{attr}"))
        else:
            assert site.container is not None and site.index is not None
            edits.call(site.container, insert_elements(site.index, [new]))
        return edits.apply(ctx.src.module)
