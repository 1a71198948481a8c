"""The typed mutation spec (stored as a triple's modification) and its error."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Mutation(BaseModel):
    """One deterministic edit of a model file, e.g. ``widen(layer=conv2, factor=2)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: str
    layer: str | None = None
    args: dict[str, int | float | str] = Field(default_factory=dict)

    def describe(self) -> str:
        """Human-readable one-liner, stable across runs: ``op(layer=..., k=v, ...)``."""
        parts = [f"layer={self.layer}"] if self.layer is not None else []
        parts += [f"{key}={_fmt(value)}" for key, value in sorted(self.args.items())]
        return f"{self.op}({', '.join(parts)})"

    def __hash__(self) -> int:
        return hash((self.op, self.layer, tuple(sorted(self.args.items()))))


def _fmt(value: int | float | str) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class MutationError(Exception):
    """A mutation cannot be applied; ``reason`` says why in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason.splitlines()[0] if reason else "unknown reason"
