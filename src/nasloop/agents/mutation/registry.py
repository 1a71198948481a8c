"""The open registry of mutation operators: stage 2 adds operators without touching the core."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nasloop.agents.mutation.spec import Mutation

if TYPE_CHECKING:
    from nasloop.agents.mutation.context import ModelContext

Proposer = Callable[["ModelContext"], list[Mutation]]
Applier = Callable[["ModelContext", Mutation], str]


@dataclass(frozen=True)
class Operator:
    """One operator: which mutations apply to a model, and how to apply one.

    ``propose`` lists concrete mutations for the model (empty if none); ``apply`` returns
    the new source or raises MutationError. Neither may use randomness.
    """

    name: str
    propose: Proposer
    apply: Applier
    summary: str = ""


OPERATORS: dict[str, Operator] = {}


def register(name: str, summary: str = "") -> Callable[[type], type]:
    """Class decorator registering ``cls.propose`` and ``cls.apply`` under ``name``."""

    def decorate(cls: type) -> type:
        OPERATORS[name] = Operator(name, cls.propose, cls.apply, summary or (cls.__doc__ or ""))
        return cls

    return decorate
