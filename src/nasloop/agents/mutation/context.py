"""One analysed model file: its syntax, the built model, and (lazily) its channel graph."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nasloop.agents.mutation.model import Form, build, single_thread
from nasloop.agents.mutation.source import LayerSite, SourceInfo, read_source
from nasloop.agents.mutation.spec import MutationError

if TYPE_CHECKING:
    from nasloop.agents.mutation.channels import ChannelGraph


@dataclass(eq=False)
class ModelContext:
    """What an operator sees: source, layer sites, the live model and its channel graph."""

    code: str
    src: SourceInfo
    model: Any
    in_shape: tuple[int, ...]
    num_classes: int
    form: Form
    _graph: ChannelGraph | None = field(default=None, repr=False)
    _graph_error: MutationError | None = field(default=None, repr=False)

    @property
    def sites(self) -> dict[str, LayerSite]:
        return self.src.sites

    def graph(self) -> ChannelGraph:
        """The channel graph (torch.fx); MutationError if the forward cannot be traced."""
        if self._graph is None and self._graph_error is None:
            from nasloop.agents.mutation.channels import trace

            try:
                self._graph = trace(self.model, self.in_shape)
            except MutationError as err:
                self._graph_error = err
        if self._graph_error is not None:
            raise self._graph_error
        assert self._graph is not None
        return self._graph

    def module(self, name: str) -> Any:
        """The live submodule called ``name``."""
        return self.model.get_submodule(name)

    def site(self, name: str | None) -> LayerSite:
        """The constructor site of layer ``name``; MutationError naming the problem if none."""
        if name is None:
            raise MutationError("this operator needs a layer")
        if name not in self.sites:
            try:
                self.module(name)
            except AttributeError:
                raise MutationError(f"the model has no layer {name!r}") from None
            raise MutationError(
                f"layer {name!r} has no constructor call of its own in Net.__init__"
            )
        return self.sites[name]

    def sites_of(self, *types: type) -> list[LayerSite]:
        """Sites (in source order) whose live module is an instance of one of ``types``."""
        found = []
        for site in self.sites.values():
            try:
                module = self.module(site.name)
            except AttributeError:
                continue
            if isinstance(module, types):
                found.append(site)
        return found

    def fresh_attr(self, base: str) -> str:
        """An attribute name not used anywhere in Net, derived from ``base``."""
        base = base.replace(".", "_")
        name, n = base, 2
        while name in self.src.attrs:
            name, n = f"{base}{n}", n + 1
        return name

    def single_use(self, site: LayerSite) -> Any:
        """The one ``self.<name>(x)`` call of a direct site; MutationError otherwise."""
        uses = self.src.uses.get(site.name, [])
        if len(uses) != 1 or self.src.refs[site.name] != 1:
            raise MutationError(
                f"{site.name} is referenced {self.src.refs[site.name]} times in the forward code;"
                " this operator needs exactly one call"
            )
        call = uses[0]
        if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
            raise MutationError(f"{site.name} is not called with a single tensor argument")
        return call


def analyse(
    code: str, in_shape: Sequence[int] | None = None, num_classes: int = 10
) -> ModelContext:
    """Parse, build and forward-check the file; MutationError with the reason if not usable."""
    src = read_source(code)
    model, shape, form = build(code, in_shape, num_classes)
    return ModelContext(code, src, model, shape, num_classes, form)


def io_shapes(ctx: ModelContext) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], int]]:
    """``{module name: (input shape, output shape, calls)}`` from one hooked forward pass."""
    import torch

    found: dict[str, tuple[tuple[int, ...], tuple[int, ...], int]] = {}

    def make_hook(name: str) -> Any:
        def hook(module: Any, inputs: tuple, output: Any) -> None:
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            in_shape = tuple(first.shape) if first is not None else ()
            out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
            calls = found[name][2] + 1 if name in found else 1
            found[name] = (in_shape, out_shape, calls)

        return hook

    handles = [
        module.register_forward_hook(make_hook(name))
        for name, module in ctx.model.named_modules()
        if name
    ]
    try:
        ctx.model.eval()
        with torch.no_grad(), single_thread():
            ctx.model(torch.randn(*ctx.in_shape))
    finally:
        for handle in handles:
            handle.remove()
    return found
