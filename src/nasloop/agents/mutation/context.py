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
    from nasloop.agents.mutation.provenance import Provenance


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
    _instances: dict[str, list[str]] | None = field(default=None, repr=False)
    _provenance: Provenance | MutationError | None = field(default=None, repr=False)

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

    def provenance(self) -> Provenance:
        """The literals each layer argument comes from (a second, tagged build; cached)."""
        if self._provenance is None:
            from nasloop.agents.mutation.provenance import tagged_build

            try:
                self._provenance = tagged_build(self.code, self.in_shape, self.num_classes)
            except MutationError as err:
                self._provenance = err
        if isinstance(self._provenance, MutationError):
            raise self._provenance
        return self._provenance

    def instances(self, site: LayerSite) -> list[str]:
        """Module paths built by ``site``: one for Net's layers, one per object of a helper
        class (``layer1.0.conv1`` and ``layer1.1.conv1`` for ``BasicBlock.conv1``)."""
        if site.owner == "Net":
            return [site.name]
        if self._instances is None:
            self._instances = {}
            for path, module in self.model.named_modules():
                if type(module).__module__ == "candidate":
                    self._instances.setdefault(type(module).__name__, []).append(path)
        found = []
        for owner_path in self._instances.get(site.owner, []):
            path = f"{owner_path}.{site.local}" if owner_path else site.local
            try:
                self.model.get_submodule(path)
            except AttributeError:
                continue
            found.append(path)
        return found

    def module(self, name: str) -> Any:
        """The live submodule called ``name`` (a helper-class site: its first object)."""
        site = self.sites.get(name)
        if site is not None and site.owner != "Net":
            paths = self.instances(site)
            if not paths:
                raise MutationError(f"no object of {site.owner} is part of the model")
            name = paths[0]
        return self.model.get_submodule(name)

    def site(self, name: str | None) -> LayerSite:
        """The constructor site of layer ``name`` (a module path or ``Class.attr``);
        MutationError naming the problem if there is none."""
        if name is None:
            raise MutationError("this operator needs a layer")
        if name in self.sites:
            return self.sites[name]
        parts = name.split(".")
        for cut in range(len(parts) - 1, 0, -1):  # layer1.0.conv1 -> BasicBlock.conv1
            try:
                owner = self.model.get_submodule(".".join(parts[:cut]))
            except AttributeError:
                raise MutationError(f"the model has no layer {name!r}") from None
            key = f"{type(owner).__name__}.{'.'.join(parts[cut:])}"
            if type(owner).__module__ == "candidate" and key in self.sites:
                return self.sites[key]
        try:
            self.model.get_submodule(name)
        except AttributeError:
            raise MutationError(f"the model has no layer {name!r}") from None
        raise MutationError(f"{name} has no constructor call of its own in the file")

    def sites_of(self, *types: type) -> list[LayerSite]:
        """Sites (in source order, Net's first) whose module is one of ``types``."""
        found = []
        for site in self.sites.values():
            try:
                module = self.module(site.name)
            except (AttributeError, MutationError):
                continue
            if isinstance(module, types):
                found.append(site)
        return found

    def fresh_attr(self, base: str, owner: str = "Net") -> str:
        """An attribute name not used anywhere in class ``owner``, derived from ``base``."""
        base = base.replace(".", "_")
        taken = self.src.attrs.get(owner, set())
        name, n = base, 2
        while name in taken:
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
