"""The public entry points: list the mutations that apply to a file, and apply one."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

from nasloop.agents.mutation.context import ModelContext, analyse
from nasloop.agents.mutation.model import (
    backward_check,
    build,
    count_flops,
    count_params,
    single_thread,
)
from nasloop.agents.mutation.registry import OPERATORS
from nasloop.agents.mutation.spec import Mutation, MutationError

logger = logging.getLogger(__name__)


def _load_operators() -> None:
    # importing the modules registers their operators
    from nasloop.agents.mutation import (  # noqa: F401
        ops_activation,
        ops_block,
        ops_dropout,
        ops_layer,
        ops_norm,
        ops_width,
    )


def operator_summaries() -> dict[str, str]:
    """``{operator name: one-line summary}`` for every registered operator (for prompts)."""
    _load_operators()
    return {name: op.summary for name, op in OPERATORS.items()}


_CACHE: OrderedDict[tuple[str, tuple[int, ...] | None, int], ModelContext] = OrderedDict()
_CACHE_SIZE = 32  # the loop prefetches the top parents and the candidates in training


def forget_analyses() -> None:
    """Drop the cached analyses (a process that warmed up on a file of its own)."""
    _CACHE.clear()


def _analysed(code: str, in_shape: Sequence[int] | None, num_classes: int) -> ModelContext:
    """Analyse ``code``, reusing the last few analyses (a parent is listed, then mutated)."""
    key = (code, tuple(in_shape) if in_shape is not None else None, num_classes)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    ctx = analyse(code, in_shape, num_classes)
    _CACHE[key] = ctx
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return ctx


def applicable_mutations(
    code: str, in_shape: Sequence[int] | None = None, num_classes: int = 10
) -> list[Mutation]:
    """Concrete mutations that should apply to ``code``, in a stable order.

    Raises MutationError (with a one-line reason) when the file cannot be handled at all.
    The file is executed in-process: use only on trusted code (seeds and their mutants).
    """
    _load_operators()
    ctx = _analysed(code, in_shape, num_classes)
    found: list[Mutation] = []
    for operator in OPERATORS.values():
        try:
            found += operator.propose(ctx)
        except MutationError:
            continue  # this operator has nothing to offer on this file
        except Exception as err:  # noqa: BLE001 - one broken operator must not hide the others
            logger.warning("operator %s failed to propose: %s: %s", operator.name, type(err), err)
    return list(dict.fromkeys(found))


def apply_mutation(
    code: str,
    mutation: Mutation,
    in_shape: Sequence[int] | None = None,
    num_classes: int = 10,
    context: ModelContext | None = None,
) -> str:
    """Return the mutated source; MutationError(reason) if it cannot apply or breaks the model.

    The result is confirmed by building it and running a forward pass on the input shape the
    parent was analysed with, then one train-mode backward pass (every mutant must train).
    """
    _load_operators()
    operator = OPERATORS.get(mutation.op)
    if operator is None:
        raise MutationError(f"unknown operator {mutation.op!r}; known: {', '.join(OPERATORS)}")
    if context is not None and context.code != code:
        raise MutationError("the context given was analysed from another file")
    ctx = context or _analysed(code, in_shape, num_classes)
    try:
        new_code = operator.apply(ctx, mutation)
    except MutationError:
        raise
    except Exception as err:  # noqa: BLE001 - a reason, never a traceback
        raise MutationError(f"{mutation.describe()} failed: {type(err).__name__}: {err}") from None
    if new_code == ctx.code:
        raise MutationError(f"{mutation.describe()} leaves the code unchanged")
    try:
        confirm(new_code, ctx.in_shape, ctx.num_classes)
        backward_check(new_code, ctx.in_shape, ctx.num_classes)
    except MutationError as err:
        raise MutationError(f"{mutation.describe()} breaks the model: {err.reason}") from None
    return new_code


def confirm(
    code: str, in_shape: Sequence[int], num_classes: int, max_params: int = 10**9
) -> tuple[int, float]:
    """Dry-check a mutant with the sandbox's check (in-process: trusted code only).

    Returns (params, forward FLOPs per sample); MutationError with the classified reason.
    Falls back to this package's own forward check when the sandbox is not installed.
    """
    if isinstance(num_classes, tuple):  # an image-to-image model: the engine's own check
        model, shape, _ = build(code, in_shape, num_classes)
        return count_params(model), float(count_flops(model, shape))
    try:
        from nasloop.sandbox.classify import classify_exception
        from nasloop.tasks.image_classification.trainer import dry_check
    except ImportError:  # pragma: no cover - the sandbox ships with nasloop
        model, shape, _ = build(code, in_shape, num_classes)
        return count_params(model), float(count_flops(model, shape))
    try:
        with single_thread():
            info = dry_check(code, tuple(in_shape), num_classes, max_params)
    except Exception as err:  # noqa: BLE001 - classified into a one-line reason
        failure, message = classify_exception(err, "dry check")
        raise MutationError(f"{failure}: {message}") from None
    return info.params, info.flops
